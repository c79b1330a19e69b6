"""POST /v1/score: personalised scores for a prompt's responses."""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter

from service.deps import Api, ReadApi, prompt_args
from service.openapi import errors
from service.schemas import ScoreRequest, ScoreResponse

router = APIRouter(tags=["score"])

# what /v1/score and /v1/score:batch share besides their response model
SCORE_ROUTE: dict[str, Any] = {
    "response_model_exclude_none": True,
    "responses": errors(401, 403, 413, 422, 429, 500, 503, 504),
}


def score_args(body: ScoreRequest, api: Api) -> dict[str, Any]:
    """One /v1/score body as the engine takes it (the user id namespaced by the caller's tenant)."""
    return {
        "responses": body.responses,
        "user_id": api.user_key(body.user_id),
        "with_head_rewards": body.return_head_rewards,
        **prompt_args(body),
    }


@router.post("/v1/score", response_model=ScoreResponse, **SCORE_ROUTE)
async def score(body: ScoreRequest, api: ReadApi) -> ScoreResponse:
    """Score 1..64 responses with the user's mixture weights (the prior without a user)."""
    api.limits.score(body)
    result = await api.engine.score(**score_args(body, api))
    return ScoreResponse(**dataclasses.asdict(result), model_version=api.engine.model_version)
