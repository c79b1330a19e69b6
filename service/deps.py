"""Typed dependencies: what a route may ask for, taken from the running app's state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.engine import RewardEngine
from service.errors import NotReady
from service.limits import Limits
from service.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime | None = getattr(request.app.state, "runtime", None)
    if runtime is None:
        raise NotReady("the model is still loading; retry shortly", retry_after_s=1)
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_engine(runtime: RuntimeDep) -> RewardEngine:
    return runtime.engine


def get_limits(runtime: RuntimeDep) -> Limits:
    return runtime.limits


EngineDep = Annotated[RewardEngine, Depends(get_engine)]
LimitsDep = Annotated[Limits, Depends(get_limits)]
