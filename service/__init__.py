"""The serving microservice: HTTP in, Redis state, metrics out. Imports model/, never the other way."""
