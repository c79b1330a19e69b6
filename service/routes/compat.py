"""POST /get_reward: the OpenRLHF remote reward model protocol; with MICRO_URL_KEYS=true also
POST /k/{api_key}/get_reward for clients that cannot send a header (service/auth.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from service import rewards
from service.auth import UrlKeyReader
from service.deps import Api, ReadApi, RuntimeDep
from service.openapi import errors
from service.schemas import RewardRequest, RewardResponse, SampleLabel, UserId

router = APIRouter(tags=["compat"])
url_key_router = APIRouter(tags=["compat"])  # included by the app only when MICRO_URL_KEYS=true
FallbackUser = Annotated[
    UserId | None, Query(description="Personalise with this user's weights the queries whose label names no user")
]


async def _rewards(body: RewardRequest, api: Api, user_id: str | None) -> RewardResponse:
    """Each query's user and context from its label, else the query string's user (namespaced by tenant)."""
    api.limits.reward(body)
    labels = body.labels or [SampleLabel()] * len(body.query)
    who = [(api.user_key(label.user_id or user_id), label.context) for label in labels]
    result = await rewards.sample_rewards(api.engine, body.query, body.prompts, who)
    return RewardResponse(rewards=result.scores, scores=result.scores, extra_logs=rewards.extra_logs(result))


@router.post("/get_reward", response_model=RewardResponse, responses=errors(401, 403, 413, 422, 429, 500, 503, 504))
async def get_reward(body: RewardRequest, api: ReadApi, user_id: FallbackUser = None) -> RewardResponse:
    """`{"query": [prompt + response, ...], "prompts"?: [...], "labels"?: [{"user_id", "context"?}, ...]}`
    -> `{"rewards", "scores", "extra_logs"}`, one value per query; `{"query": []}` -> empty lists."""
    return await _rewards(body, api, user_id)


def url_key_reading(runtime: RuntimeDep, caller: UrlKeyReader) -> Api:
    return Api(runtime.engine, runtime.limits, caller)


@url_key_router.post(
    "/k/{api_key}/get_reward", response_model=RewardResponse, responses=errors(401, 403, 413, 422, 429, 500, 503, 504)
)
async def get_reward_with_url_key(
    body: RewardRequest, api: Annotated[Api, Depends(url_key_reading)], user_id: FallbackUser = None
) -> RewardResponse:
    """`/get_reward` for clients that cannot send a header: a READ-ONLY key in the path (a key with
    the write scope: 403). The key leaks wherever the URL goes (docs/integrations.md)."""
    return await _rewards(body, api, user_id)
