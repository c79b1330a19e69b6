"""POST /get_reward: the OpenRLHF remote reward model protocol."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from service.deps import ReadApi
from service.schemas import RewardRequest, RewardResponse, UserId

router = APIRouter(tags=["compat"])


@router.post("/get_reward", response_model=RewardResponse)
async def get_reward(
    body: RewardRequest,
    api: ReadApi,
    user_id: Annotated[UserId | None, Query(description="Personalise with this user's weights")] = None,
) -> RewardResponse:
    """`{"query": [prompt + response, ...], "prompts": [...]}` -> `{"rewards", "scores", "extra_logs"}`."""
    api.limits.reward(body)
    result = await api.engine.rewards(body.query, body.prompts, api.user_key(user_id))
    return RewardResponse(
        rewards=result.scores,
        scores=result.scores,
        extra_logs={
            "truncated": [float(t) for t in result.truncated],
            "personalized": [float(result.weights_source == "user")] * len(result.scores),
        },
    )
