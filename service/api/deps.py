"""Typed dependencies: what a route may ask for, taken from the running app's state.

The one request preamble of the /v1 and /get_reward routes: the running model (503 while it
loads), the caller's key and scope (401 / 403), the tenant's namespace for user ids, the user id
of the path (422 unless it is a valid id) and the size limits (413, built by the app factory).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Path, Request

from service.api.auth import Caller, Reader, UrlKeyReader, Writer
from service.api.schemas import PromptInput
from service.core.errors import NotReady
from service.core.ids import ID_PATTERN

if TYPE_CHECKING:  # annotations only: not imported at run time
    from service.api.limits import Limits
    from service.inference.engine import RewardEngine
    from service.inference.runtime import Runtime

UserPath = Annotated[str, Path(pattern=ID_PATTERN, description="The user's id")]
# The dependencies are ``async def``: they only read app state, and FastAPI runs a plain ``def`` dependency in its
# thread pool: a thread hop per dependency per request (three per /get_reward before; docs/performance.md).


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime | None = getattr(request.app.state, "runtime", None)
    if runtime is None:
        raise NotReady("the model is still loading; retry shortly", retry_after_s=1)
    return runtime


RuntimeDep = Annotated["Runtime", Depends(get_runtime)]


@dataclass(frozen=True)
class Api:
    """What a handler works with: the engine, the size limits and the authorised caller."""

    engine: RewardEngine
    limits: Limits
    caller: Caller

    def user_key(self, user_id: str | None) -> str | None:
        """The store's id of the caller's user (namespaced by tenant); None without a user."""
        return self.caller.user_key(user_id) if user_id else None


def prompt_args(body: PromptInput) -> dict[str, Any]:
    """The prompt (text or chat messages) and stated context of a request, as the engine takes them."""
    messages = [m.model_dump() for m in body.messages] if body.messages else None
    return {"prompt": body.prompt, "messages": messages, "context": body.context}


def _api(request: Request, runtime: Runtime, caller: Caller) -> Api:
    return Api(runtime.engine, request.app.state.limits, caller)


async def reading(request: Request, runtime: RuntimeDep, caller: Reader) -> Api:
    return _api(request, runtime, caller)


async def writing(request: Request, runtime: RuntimeDep, caller: Writer) -> Api:
    return _api(request, runtime, caller)


async def url_key_reading(request: Request, runtime: RuntimeDep, caller: UrlKeyReader) -> Api:
    return _api(request, runtime, caller)


ReadApi = Annotated[Api, Depends(reading)]  # routes that read (scope "read")
WriteApi = Annotated[Api, Depends(writing)]  # routes that change a user's state (scope "write")
UrlKeyReadApi = Annotated[Api, Depends(url_key_reading)]  # /k/{api_key}/...: a read-only key in the path
