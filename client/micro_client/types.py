"""Typed results (plain dataclasses) and request items. Unknown reply fields are ignored, so a
newer server does not break an older client."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

Messages = Sequence[Mapping[str, str]]
Prompt = str | Messages  # a text, or a chat transcript [{"role": ..., "content": ...}, ...]
T = TypeVar("T")


def from_json(cls: type[T], data: Mapping[str, Any]) -> T:
    """``cls`` built from the reply's fields it knows; absent optional fields take their defaults."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in names})


def new_feedback_id() -> str:
    """An idempotency key for one label (a retried post with it is applied once)."""
    return f"fb-{uuid.uuid4().hex}"


@dataclass(frozen=True)
class ScoreResult:
    scores: list[float]
    ranking: list[int]  # response indices, best first
    weights: list[float]
    weights_source: str  # user | prior | prior_degraded
    truncated: list[bool]
    model_version: str
    p_first_preferred: float | None = None  # two responses: sigmoid(scores[0] - scores[1]), > 0.5 iff 0 ranks first
    head_rewards: list[list[float]] | None = None


@dataclass(frozen=True)
class Ranked:
    index: int  # position in the responses given
    response: str
    score: float


@dataclass(frozen=True)
class FeedbackResult:
    user_id: str
    weights_before: list[float]
    weights_after: list[float]
    n_feedback: int
    version: int
    applied: bool  # False: this feedback_id was applied before; the first result is returned
    feedback_id: str | None = None


@dataclass(frozen=True)
class FeedbackItem:
    """One label for bulk feedback; ``feedback_id`` is generated when not given."""

    prompt: Prompt
    chosen: str
    rejected: str
    context: str | None = None
    feedback_id: str = field(default_factory=new_feedback_id)


@dataclass(frozen=True)
class BulkFeedbackResult:
    user_id: str
    results: list[FeedbackResult]
    via: Literal["batch", "sequential"]  # the batch endpoint, or the fallback: one POST /v1/feedback per item


@dataclass(frozen=True)
class ScoreItem:
    """One prompt with its responses, for ``score_many``."""

    prompt: Prompt
    responses: list[str]
    user_id: str | None = None
    context: str | None = None


@dataclass(frozen=True)
class User:
    user_id: str
    model_version: str
    n_feedback: int
    context: str | None
    version: int
    offset: list[float]
    base_weights: list[float]
    updated_at: float | None = None


@dataclass(frozen=True)
class NextQuery:
    pair: tuple[int, int]  # indices of the two responses to ask the user about
    expected_gain: float
    weights: list[float]
    weights_source: str
    model_version: str


@dataclass(frozen=True)
class Reward:
    """The OpenRLHF ``/get_reward`` reply: one reward per query."""

    rewards: list[float]
    scores: list[float]
    extra_logs: dict[str, list[float]] = field(default_factory=dict)
