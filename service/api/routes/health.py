"""GET /health/live, GET /health/ready, GET /metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from service.core import metrics
from service.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/health/live", response_model=Health)
async def live() -> Health:
    """The process is up and serving HTTP."""
    return Health(status="ok", checks={"process": "ok"})


@router.get("/health/ready", response_model=Health, responses={503: {"model": Health}})
async def ready(request: Request) -> JSONResponse:
    """What this pod can serve: 200 once the model is loaded and warm, until shutdown begins; 503
    (with the failing check) otherwise. Redis is reported (``checks.redis``, gauge micro_redis_up)
    but does not decide: without it scores degrade to the prior, so draining every pod would only
    turn a partial outage into a full one."""
    runtime = getattr(request.app.state, "runtime", None)  # set once the model is loaded and warmed up
    checks = {"model": "ok" if runtime is not None else "loading"}
    if getattr(request.app.state, "draining", False):
        checks["shutdown"] = "draining"
    ok = all(v == "ok" for v in checks.values())
    redis_up = runtime is not None and await runtime.store.ping()
    metrics.REDIS_UP.set(1 if redis_up else 0)
    checks["redis"] = "ok" if redis_up else "unavailable"
    body = Health(status="ok" if ok else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get("/metrics", include_in_schema=False)
async def prometheus() -> Response:
    body, content_type = metrics.exposition()
    return Response(body, media_type=content_type)
