"""HTTP: schemas, dependencies, auth, limits, admission, middleware, OpenAPI and the routes.
Imports inference, state and core; imported by the app only."""
