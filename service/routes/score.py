"""POST /v1/score: personalised scores for a prompt's responses."""

from __future__ import annotations

from fastapi import APIRouter

from service.auth import Reader
from service.deps import EngineDep, LimitsDep
from service.schemas import ScoreRequest, ScoreResponse

router = APIRouter(tags=["score"])


@router.post("/v1/score", response_model=ScoreResponse, response_model_exclude_none=True)
async def score(body: ScoreRequest, engine: EngineDep, limits: LimitsDep, caller: Reader) -> ScoreResponse:
    """Score 1..64 responses with the user's mixture weights (the prior without a user)."""
    limits.score(body)
    result = await engine.score(
        responses=body.responses,
        prompt=body.prompt,
        messages=[m.model_dump() for m in body.messages] if body.messages else None,
        user_id=caller.user_key(body.user_id) if body.user_id else None,
        context=body.context,
        with_head_rewards=body.return_head_rewards,
    )
    return ScoreResponse(
        scores=result.scores,
        ranking=result.ranking,
        weights=result.weights,
        weights_source=result.weights_source,
        p_first_preferred=result.p_first_preferred,
        head_rewards=result.head_rewards,
        truncated=result.truncated,
        model_version=engine.model_version,
    )
