"""Operator commands (python -m service.ops.<command>): import users' feedback, migrate users after a
model upgrade. Imports inference, state and core; never imported by the service."""
