"""POST /v1/users/{id}/next-query: which pair should this user label next (active learning)."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter

from service.api.deps import ReadApi, UserPath, prompt_args
from service.api.openapi import errors
from service.api.schemas import NextQueryRequest, NextQueryResponse
from service.inference.scoring import ScoreItem

router = APIRouter(tags=["users"])


@router.post(
    "/v1/users/{user_id}/next-query",
    response_model=NextQueryResponse,
    responses=errors(401, 403, 413, 422, 429, 500, 503, 504),
)
async def next_query(user_id: UserPath, body: NextQueryRequest, api: ReadApi) -> NextQueryResponse:
    """Of all pairs among the responses, the one whose label is expected to reduce the
    uncertainty about this user's head weights the most (see model/active.py)."""
    api.limits.score(body)  # same limits as scoring: number of responses, characters per text
    result = await api.engine.next_query(
        ScoreItem(responses=body.responses, user_id=api.user_key(user_id), **prompt_args(body))
    )
    return NextQueryResponse(**dataclasses.asdict(result), model_version=api.engine.model_version)
