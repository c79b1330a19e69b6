"""GET /health/live, GET /health/ready, GET /metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from service import metrics
from service.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/health/live", response_model=Health)
async def live() -> Health:
    """The process is up and serving HTTP."""
    return Health(status="ok", checks={"process": "ok"})


@router.get("/health/ready", response_model=Health, responses={503: {"model": Health}})
async def ready(request: Request) -> JSONResponse:
    """Model loaded and warm, Redis answers, not shutting down. 503 (with the failing check) otherwise."""
    runtime = getattr(request.app.state, "runtime", None)  # set once the model is loaded and warmed up
    checks = {"model": "ok" if runtime is not None else "loading"}
    checks["redis"] = "ok" if runtime is not None and await runtime.store.ping() else "unavailable"
    if getattr(request.app.state, "draining", False):
        checks["shutdown"] = "draining"
    ok = all(v == "ok" for v in checks.values())
    body = Health(status="ok" if ok else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get("/metrics", include_in_schema=False)
async def prometheus() -> Response:
    body, content_type = metrics.exposition()
    return Response(body, media_type=content_type)
