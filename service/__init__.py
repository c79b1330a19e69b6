"""The serving microservice: HTTP in, Redis state, metrics out. Imports model/, never the other way.

Layers, each a subpackage with one concern; imports go downward only (tests/test_package_boundaries.py):

    app.py, __main__.py   the composition: the FastAPI factory, the uvicorn entry point
    api/        HTTP: schemas, deps, auth, limits, admission, middleware, OpenAPI, routes   -> inference, state, core
    ops/        operator commands: import users' feedback, migrate users after an upgrade     -> inference, state, core
    inference/  texts -> embeddings -> scores and updates (engine, embedder, batcher)        -> state, core
    state/      per-user state in Redis (store, records, the update script, the connection)   -> core
    core/       settings, domain errors and problem+json, logs, metrics                        -> nothing above
"""

from __future__ import annotations

import importlib.abc
import sys

# Modules that moved into the layers: `python -m service.<old>` (or an import) names the new place.
MOVED = {
    "service.import_feedback": "service.ops.import_feedback",
    "service.migrate_users": "service.ops.migrate_users",
    "service.harness": "evaluation.service_process",
}


class _MovedModules(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):  # noqa: ANN001, ANN201 - the finder protocol
        if name in MOVED:
            raise ModuleNotFoundError(f"{name} moved: use {MOVED[name]} (python -m {MOVED[name]})", name=name)
        return None


if not any(isinstance(f, _MovedModules) for f in sys.meta_path):
    sys.meta_path.insert(0, _MovedModules())
