"""FastAPI factory. Nothing is built at import time: ``create_app(settings)`` wires routes,
error handlers and middleware; the lifespan loads the model and connects Redis, and fails
fast (the process exits) with a message that says which setting to fix. On SIGTERM requests in
flight get MICRO_SHUTDOWN_GRACE_S to finish; the rest are answered 503 (service/api/shutdown.py)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from service.api.admission import Admission
from service.api.auth import load_keys
from service.api.limits import Limits
from service.api.middleware import RequestContext
from service.api.openapi import install_openapi
from service.api.routes import compat, feedback, health, model_card, next_query, playground, score, users
from service.api.routes.api_docs import install_docs
from service.api.shutdown import GraceMiddleware, GracePeriod
from service.core.config import Settings
from service.core.errors import install_error_handlers
from service.inference.runtime import StartupError, running

log = logging.getLogger("service.app")
API_VERSION = "1.0.0"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load the model, connect Redis and start the batcher; on shutdown stop them in reverse.
    From the exit signal on, the grace period runs (requests still waiting at its end: 503)."""
    settings: Settings = app.state.settings
    try:
        async with running(settings) as runtime, app.state.grace.watching(lambda: app.state.draining):
            app.state.runtime = runtime
            try:
                yield
            finally:
                app.state.runtime = None
    except StartupError as exc:
        log.critical("cannot start: %s", exc)
        raise


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = FastAPI(
        title="micro-reward",
        version=API_VERSION,
        description="Personalised reward model: mixture heads + per-user routing, state in Redis.",
        lifespan=lifespan,
        docs_url=None,  # /docs: service/api/routes/api_docs.py, from bundled assets (no CDN); no /redoc
        redoc_url=None,
        # no 307 to the other slash form: its Location would repeat a /k/<key>/ path on a Host-derived origin
        # (docs/security.md); /get_reward/ and the like are 404
        redirect_slashes=False,
    )
    app.state.settings = settings
    app.state.runtime = None
    app.state.limits = Limits.from_settings(settings)  # 413 before any work (service/api/limits.py)
    app.state.api_keys = load_keys(settings)  # None: auth off; AuthConfigError when on without keys
    app.state.draining = False  # set on SIGTERM (service/__main__.py): readiness answers 503 from then on
    install_error_handlers(app)
    for module in (score, feedback, users, next_query, model_card, compat, health, playground):
        app.include_router(module.router)
    if settings.url_keys:  # POST /k/{api_key}/get_reward: read-only keys in URLs (service/api/auth.py)
        app.include_router(compat.url_key_router)
    install_docs(app)
    install_openapi(app)
    app.state.grace = GracePeriod(settings.shutdown_grace_s, settings.retry_after_s)
    app.add_middleware(Admission, budget_tokens=settings.admission_budget_tokens, retry_after_s=settings.retry_after_s,
                       bytes_per_token=settings.admission_bytes_per_token, cap_tokens=settings.admission_cap_tokens,
                       tenant_share=settings.admission_tenant_share)
    app.add_middleware(GraceMiddleware, grace=app.state.grace)  # inside RequestContext: its 503s are logged
    app.add_middleware(RequestContext, max_body_bytes=settings.max_body_bytes, timeout_s=settings.request_timeout_s,
                       body_timeout_s=settings.body_timeout_s,
                       api_keys=app.state.api_keys, url_keys=settings.url_keys,  # keys checked before any body read
                       trim_after_bytes=settings.trim_after_bytes)
    return app
