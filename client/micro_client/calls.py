"""Each API call as data (method, path, body, how to read the reply), shared by the sync and
the async client, so the HTTP contract is written once."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from micro_client.types import (
    FeedbackItem,
    FeedbackResult,
    NextQuery,
    Prompt,
    Reward,
    ScoreItem,
    ScoreResult,
    User,
    from_json,
    new_feedback_id,
)

SCORE_BATCH_PATH = "/v1/score:batch"  # many prompts in one call (docs/integrations.md)


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    parse: Callable[[Any], Any]  # the decoded JSON body (None for 204) -> the result
    body: Any = None
    params: Mapping[str, str] | None = None


def prompt_fields(prompt: Prompt, context: str | None = None) -> dict[str, Any]:
    """A text goes as ``prompt``, a chat transcript as ``messages``; ``context`` when given."""
    out: dict[str, Any] = {"prompt": prompt} if isinstance(prompt, str) else {"messages": [dict(m) for m in prompt]}
    if context is not None:
        out["context"] = context
    return out


def user_path(user_id: str, suffix: str = "") -> str:
    return f"/v1/users/{quote(user_id, safe='')}{suffix}"


def score_body(item: ScoreItem, return_head_rewards: bool = False) -> dict[str, Any]:
    body = {**prompt_fields(item.prompt, item.context), "responses": list(item.responses)}
    if item.user_id is not None:
        body["user_id"] = item.user_id
    if return_head_rewards:
        body["return_head_rewards"] = True
    return body


def score(item: ScoreItem, return_head_rewards: bool = False) -> Call:
    return Call("POST", "/v1/score", lambda d: from_json(ScoreResult, d), score_body(item, return_head_rewards))


def score_batch(items: Sequence[ScoreItem], return_head_rewards: bool = False) -> Call:
    body = {"items": [score_body(i, return_head_rewards) for i in items]}
    return Call("POST", SCORE_BATCH_PATH, lambda d: [from_json(ScoreResult, r) for r in d["results"]], body)


def feedback_body(item: FeedbackItem) -> dict[str, Any]:
    return {**prompt_fields(item.prompt, item.context), "chosen": item.chosen, "rejected": item.rejected,
            "feedback_id": item.feedback_id}


def feedback(user_id: str, item: FeedbackItem) -> Call:
    return Call("POST", "/v1/feedback", lambda d: from_json(FeedbackResult, d),
                {"user_id": user_id, **feedback_body(item)})


def feedback_batch(user_id: str, items: Sequence[FeedbackItem]) -> Call:
    """Planned: ``POST /v1/users/{id}/feedback:batch`` -> ``{"user_id", "results": [...]}``."""
    body = {"items": [feedback_body(i) for i in items]}
    return Call("POST", user_path(user_id, "/feedback:batch"),
                lambda d: [from_json(FeedbackResult, r) for r in d["results"]], body)


def feedback_item(prompt: Prompt, chosen: str, rejected: str, context: str | None,
                  feedback_id: str | None) -> FeedbackItem:
    return FeedbackItem(prompt, chosen, rejected, context, feedback_id or new_feedback_id())


def get_user(user_id: str) -> Call:
    return Call("GET", user_path(user_id), lambda d: from_json(User, d))


def set_context(user_id: str, context: str | None) -> Call:
    return Call("PUT", user_path(user_id, "/context"), lambda d: from_json(User, d), {"context": context})


def delete_user(user_id: str) -> Call:
    return Call("DELETE", user_path(user_id), lambda d: None)


def next_query(user_id: str, prompt: Prompt, responses: Sequence[str], context: str | None) -> Call:
    def parse(d: Mapping[str, Any]) -> NextQuery:
        return from_json(NextQuery, {**d, "pair": tuple(d["pair"])})

    return Call("POST", user_path(user_id, "/next-query"), parse,
                {**prompt_fields(prompt, context), "responses": list(responses)})


def encode_label(label: Any) -> Any:
    """OpenRLHF labels go as they are; a mapping ({"user_id", "context"}) goes as a JSON string,
    the form that survives every dataset loader."""
    return json.dumps(dict(label), separators=(",", ":")) if isinstance(label, Mapping) else label


def get_reward(queries: Sequence[str], prompts: Sequence[str] | None, labels: Sequence[Any] | None,
               user_id: str | None) -> Call:
    body: dict[str, Any] = {"query": list(queries)}
    if prompts is not None:
        body["prompts"] = list(prompts)
    if labels is not None:
        body["labels"] = [encode_label(label) for label in labels]
    return Call("POST", "/get_reward", lambda d: from_json(Reward, d), body,
                {"user_id": user_id} if user_id else None)
