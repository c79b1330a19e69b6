"""POST /get_reward: the OpenRLHF remote reward model protocol."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from service.auth import Reader
from service.deps import EngineDep, LimitsDep
from service.schemas import RewardRequest, RewardResponse, UserId

router = APIRouter(tags=["compat"])


@router.post("/get_reward", response_model=RewardResponse)
async def get_reward(
    body: RewardRequest,
    engine: EngineDep,
    limits: LimitsDep,
    caller: Reader,
    user_id: Annotated[UserId | None, Query(description="Personalise with this user's weights")] = None,
) -> RewardResponse:
    """`{"query": [prompt + response, ...], "prompts": [...]}` -> `{"rewards", "scores", "extra_logs"}`."""
    limits.reward(body)
    result = await engine.rewards(body.query, body.prompts, caller.user_key(user_id) if user_id else None)
    return RewardResponse(
        rewards=result.scores,
        scores=result.scores,
        extra_logs={
            "truncated": [float(t) for t in result.truncated],
            "personalized": [float(result.weights_source == "user")] * len(result.scores),
        },
    )
