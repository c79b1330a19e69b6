"""POST /v1/score: personalised scores for a prompt's responses.
POST /v1/score:batch: many /v1/score requests in one, scored together on the server."""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter

from service.api.deps import Api, ReadApi, prompt_args
from service.api.openapi import errors
from service.api.schemas import ScoreBatchRequest, ScoreBatchResponse, ScoreRequest, ScoreResponse
from service.inference.scoring import ScoreItem, Scored

router = APIRouter(tags=["score"])
SCORE_ROUTE: dict[str, Any] = {
    "response_model_exclude_none": True,
    "responses": errors(401, 403, 413, 422, 429, 500, 503, 504),
}


def score_item(body: ScoreRequest, api: Api) -> ScoreItem:
    """One /v1/score body as the engine takes it (the user id namespaced by the caller's tenant)."""
    return ScoreItem(responses=body.responses, user_id=api.user_key(body.user_id),
                     with_head_rewards=body.return_head_rewards, **prompt_args(body))


def score_response(result: Scored, api: Api) -> ScoreResponse:
    fields = {k: v for k, v in dataclasses.asdict(result).items() if k in ScoreResponse.model_fields}
    return ScoreResponse(**fields, model_version=api.engine.model_version)


@router.post("/v1/score", response_model=ScoreResponse, **SCORE_ROUTE)
async def score(body: ScoreRequest, api: ReadApi) -> ScoreResponse:
    """Score 1..64 responses with the user's mixture weights (the prior without a user)."""
    api.limits.score(body)
    (result,) = await api.engine.score([score_item(body, api)])
    return score_response(result, api)


@router.post("/v1/score:batch", response_model=ScoreBatchResponse, **SCORE_ROUTE)
async def score_batch(body: ScoreBatchRequest, api: ReadApi) -> ScoreBatchResponse:
    """1..256 `/v1/score` bodies -> their results in order, each what `/v1/score` returns for it;
    all items' texts are embedded in one batch (offline evaluation, best-of-N over a data set)."""
    api.limits.score_batch(body)
    results = await api.engine.score([score_item(item, api) for item in body.items])
    return ScoreBatchResponse(results=[score_response(r, api) for r in results])
