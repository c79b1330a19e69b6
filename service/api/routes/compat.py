"""POST /get_reward: the OpenRLHF remote reward model protocol; with MICRO_URL_KEYS=true also
POST /k/{api_key}/get_reward for clients that cannot send a header (service/api/auth.py).

Each query is one scoring request of one response (the engine's one scoring path): with
``prompts``, query i's response is what follows prompts[i] and the router reads the prompt;
without, the query is scored whole and the router reads it. Each sample's user and stated context
come from its label, else from the query string's user."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Query

from service.api.deps import Api, ReadApi, UrlKeyReadApi
from service.api.openapi import errors
from service.api.schemas import RewardRequest, RewardResponse, SampleLabel, UserId
from service.inference.scoring import ScoreItem, Scored

router = APIRouter(tags=["compat"])
url_key_router = APIRouter(tags=["compat"])  # included by the app only when MICRO_URL_KEYS=true
REWARD_ERRORS = errors(401, 403, 413, 422, 429, 500, 503, 504)
FallbackUser = Annotated[
    UserId | None, Query(description="Personalise with this user's weights the queries whose label names no user")
]


def response_of(query: str, prompt: str) -> str:
    """The response of a query: what follows its prompt (the whole query when it does not start with it)."""
    return query[len(prompt) :].lstrip() if query.startswith(prompt) else query


def reward_items(body: RewardRequest, api: Api, user_id: str | None) -> list[ScoreItem]:
    labels = body.labels or [SampleLabel()] * len(body.query)
    prompts: Sequence[str | None] = body.prompts if body.prompts is not None else [None] * len(body.query)
    items = []
    for query, prompt, label in zip(body.query, prompts, labels):
        user, context = api.user_key(label.user_id or user_id), label.context
        if prompt is None:
            items.append(ScoreItem([query], prompt=query, pair_prompt="", user_id=user, context=context,
                                   with_head_rewards=True))
        else:
            items.append(ScoreItem([response_of(query, prompt)], prompt=prompt, user_id=user, context=context,
                                   with_head_rewards=True))
    return items


def extra_logs(results: Sequence[Scored]) -> dict[str, list[float]]:
    """OpenRLHF's extra_logs: one float per query under each key ({} for no query); it logs each key."""
    if not results:
        return {}
    logs = {
        "truncated": [float(r.truncated[0]) for r in results],
        "personalized": [float(r.weights_source == "user") for r in results],
        "weight_entropy": [r.weight_entropy for r in results],
    }
    for k, column in enumerate(zip(*(r.head_rewards[0] for r in results if r.head_rewards))):
        logs[f"head_reward_{k}"] = list(column)
    return logs


async def _rewards(body: RewardRequest, api: Api, user_id: str | None) -> RewardResponse:
    api.limits.reward(body)
    results = await api.engine.score(reward_items(body, api, user_id))
    rewards = [r.scores[0] for r in results]
    return RewardResponse(rewards=rewards, scores=rewards, extra_logs=extra_logs(results))


@router.post("/get_reward", response_model=RewardResponse, responses=REWARD_ERRORS)
async def get_reward(body: RewardRequest, api: ReadApi, user_id: FallbackUser = None) -> RewardResponse:
    """`{"query": [prompt + response, ...], "prompts"?: [...], "labels"?: [{"user_id", "context"?}, ...]}`
    -> `{"rewards", "scores", "extra_logs"}`, one value per query; `{"query": []}` -> empty lists."""
    return await _rewards(body, api, user_id)


@url_key_router.post("/k/{api_key}/get_reward", response_model=RewardResponse, responses=REWARD_ERRORS)
async def get_reward_with_url_key(body: RewardRequest, api: UrlKeyReadApi, user_id: FallbackUser = None
                                  ) -> RewardResponse:
    """`/get_reward` for clients that cannot send a header: a READ-ONLY key in the path (a key with
    the write scope: 403). The key leaks wherever the URL goes (docs/integrations.md)."""
    return await _rewards(body, api, user_id)
