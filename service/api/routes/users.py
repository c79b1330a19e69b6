"""GET / DELETE /v1/users/{id}, PUT /v1/users/{id}/context."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter, Response

from service.api.deps import Api, ReadApi, UserPath, WriteApi
from service.core.errors import UserNotFound
from service.api.openapi import errors
from service.api.schemas import ContextRequest, UserResponse
from service.state.user_store import UserState

router = APIRouter(tags=["users"])


def _view(api: Api, user_id: str, state: UserState) -> UserResponse:
    return UserResponse(
        **dataclasses.asdict(state),
        user_id=user_id,
        model_version=api.engine.model_version,
        base_weights=api.engine.base_weights(state.offset),
    )


@router.get("/v1/users/{user_id}", response_model=UserResponse, responses=errors(401, 403, 404, 422, 503, 504))
async def get_user(user_id: UserPath, api: ReadApi) -> UserResponse:
    """The user's stored state; 404 for a user with none."""
    try:
        state = await api.engine.user(api.user_key(user_id))
    except UserNotFound:  # named by the caller's id, never the store's (tenant-namespaced) key
        raise UserNotFound(f"no state stored for user {user_id}") from None
    return _view(api, user_id, state)


@router.put(
    "/v1/users/{user_id}/context", response_model=UserResponse, responses=errors(401, 403, 413, 422, 503, 504)
)
async def put_context(user_id: UserPath, body: ContextRequest, api: WriteApi) -> UserResponse:
    """State the user's preferences in words; the router reads them before every prompt."""
    api.limits.context(body)
    return _view(api, user_id, await api.engine.set_context(api.user_key(user_id), body.context))


@router.delete(
    "/v1/users/{user_id}", status_code=204, response_class=Response, responses=errors(401, 403, 422, 503, 504)
)
async def delete_user(user_id: UserPath, api: WriteApi) -> Response:
    """Erase everything stored about the user (idempotent)."""
    await api.engine.forget(api.user_key(user_id))
    return Response(status_code=204)
