"""POST /v1/score:batch: many /v1/score requests in one, scored together on the server."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter

from service.deps import ReadApi
from service.routes.score import SCORE_ROUTE, score_args
from service.schemas import ScoreBatchRequest, ScoreBatchResponse, ScoreResponse
from service.score_many import ScoreItem, score_many

router = APIRouter(tags=["score"])


@router.post("/v1/score:batch", response_model=ScoreBatchResponse, **SCORE_ROUTE)
async def score_batch(body: ScoreBatchRequest, api: ReadApi) -> ScoreBatchResponse:
    """1..256 `/v1/score` bodies -> their results in order, each what `/v1/score` returns for it;
    all items' texts are embedded in one batch (offline evaluation, best-of-N over a data set)."""
    api.limits.score_batch(body)
    items = [ScoreItem(**score_args(item, api)) for item in body.items]
    results = await score_many(api.engine, items)
    version = api.engine.model_version
    return ScoreBatchResponse(
        results=[ScoreResponse(**dataclasses.asdict(r), model_version=version) for r in results]
    )
