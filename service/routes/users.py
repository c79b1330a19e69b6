"""GET / DELETE /v1/users/{id}, PUT /v1/users/{id}/context."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from service.auth import Reader, Writer
from service.deps import EngineDep, LimitsDep
from service.schemas import ContextRequest, UserResponse
from service.store import UserState

router = APIRouter(tags=["users"])
UserPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9._:@-]{1,128}$", description="The user's id")]


def _view(engine: EngineDep, user_id: str, state: UserState) -> UserResponse:
    return UserResponse(
        user_id=user_id,
        model_version=engine.model_version,
        n_feedback=state.n_feedback,
        context=state.context,
        version=state.version,
        updated_at=state.updated_at,
        offset=state.offset,
        base_weights=engine.base_weights(state.offset),
    )


@router.get("/v1/users/{user_id}", response_model=UserResponse)
async def get_user(user_id: UserPath, engine: EngineDep, caller: Reader) -> UserResponse:
    """The user's stored state; 404 for a user with none."""
    return _view(engine, user_id, await engine.user(caller.user_key(user_id)))


@router.put("/v1/users/{user_id}/context", response_model=UserResponse)
async def put_context(
    user_id: UserPath, body: ContextRequest, engine: EngineDep, limits: LimitsDep, caller: Writer
) -> UserResponse:
    """State the user's preferences in words; the router reads them before every prompt."""
    limits.context(body)
    return _view(engine, user_id, await engine.set_context(caller.user_key(user_id), body.context))


@router.delete("/v1/users/{user_id}", status_code=204, response_class=Response)
async def delete_user(user_id: UserPath, engine: EngineDep, caller: Writer) -> Response:
    """Erase everything stored about the user (idempotent)."""
    await engine.forget(caller.user_key(user_id))
    return Response(status_code=204)
