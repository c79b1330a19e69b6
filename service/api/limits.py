"""Size limits from the settings: requests over them are refused with 413 before any work.

Every route's check starts with the request's total characters (all its texts together,
MICRO_MAX_TOTAL_CHARS): the per-text limits multiply (64 messages x 20,000 characters), this one
bounds what a single request holds, tokenizes and embeds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel

from service.core.config import Settings
from service.core.errors import PayloadTooLarge
from service.api.schemas import (
    ContextRequest,
    FeedbackBatchRequest,
    FeedbackLabel,
    PromptInput,
    RewardRequest,
    ScoreBatchRequest,
    ScoreRequest,
)

T = TypeVar("T")


def total_chars(value: Any) -> int:
    """Characters of every text in a request: strings at any depth of its models, lists and dicts."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, BaseModel):
        return sum(total_chars(v) for v in value.__dict__.values())
    if isinstance(value, dict):
        return sum(total_chars(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(total_chars(v) for v in value)
    return 0


def each_item(items: Sequence[T], check: Callable[[T], None]) -> None:
    """Check every item of a batch; a refusal names the item (``items[i]: ...``)."""
    for i, item in enumerate(items):
        try:
            check(item)
        except PayloadTooLarge as exc:
            raise PayloadTooLarge(f"items[{i}]: {exc.detail}") from None


@dataclass(frozen=True)
class Limits:
    max_responses: int
    max_queries: int
    max_text_chars: int
    max_messages: int
    max_context_chars: int
    max_batch_items: int
    max_batch_responses: int
    max_feedback_items: int
    max_total_chars: int

    @classmethod
    def from_settings(cls, s: Settings) -> Limits:
        return cls(s.max_responses, s.max_queries, s.max_text_chars, s.max_messages, s.max_context_chars,
                   s.max_batch_items, s.max_batch_responses, s.max_feedback_items, s.max_total_chars)

    # ---- one per route ------------------------------------------------------------------------
    def score(self, req: ScoreRequest) -> None:
        """/v1/score and /v1/users/{id}/next-query."""
        self._total(req)
        self._score_item(req)

    def feedback(self, req: FeedbackLabel) -> None:
        self._total(req)
        self._feedback_item(req)

    def feedback_batch(self, req: FeedbackBatchRequest) -> None:
        """At most max_feedback_items labels, each within the /v1/feedback limits."""
        self._total(req)
        self._count("items", len(req.items), self.max_feedback_items)
        each_item(req.items, self._feedback_item)

    def reward(self, req: RewardRequest) -> None:
        self._total(req)
        self._count("query", len(req.query), self.max_queries)
        self._texts("query", req.query)
        self._texts("prompts", req.prompts or [])
        for label in req.labels or []:
            self._context(label.context)

    def score_batch(self, req: ScoreBatchRequest) -> None:
        """Each item within the /v1/score limits, and the items and their responses in all."""
        self._total(req)
        self._count("items", len(req.items), self.max_batch_items)
        self._count("responses of all items", sum(len(i.responses) for i in req.items), self.max_batch_responses)
        each_item(req.items, self._score_item)

    def context(self, req: ContextRequest) -> None:
        self._total(req)
        self._context(req.context)

    # ---- pieces ---------------------------------------------------------------------------
    def _total(self, req: BaseModel) -> None:
        n = total_chars(req)
        if n > self.max_total_chars:
            raise PayloadTooLarge(
                f"the request's texts have {n} characters in all; the limit is {self.max_total_chars}"
            )

    def _score_item(self, req: ScoreRequest) -> None:
        self._count("responses", len(req.responses), self.max_responses)
        self._prompt(req)
        self._texts("responses", req.responses)

    def _feedback_item(self, req: FeedbackLabel) -> None:
        self._prompt(req)
        self._texts("chosen", [req.chosen])
        self._texts("rejected", [req.rejected])

    def _prompt(self, req: PromptInput) -> None:
        self._context(req.context)
        if req.prompt is not None:
            self._texts("prompt", [req.prompt])
        if req.messages is not None:
            self._count("messages", len(req.messages), self.max_messages)
            self._texts("messages", (m.content for m in req.messages))

    def _context(self, context: str | None) -> None:
        if context and len(context) > self.max_context_chars:
            raise PayloadTooLarge(f"context has {len(context)} characters; the limit is {self.max_context_chars}")

    @staticmethod
    def _count(field: str, n: int, limit: int) -> None:
        if n > limit:
            raise PayloadTooLarge(f"{field} has {n} items; the limit is {limit}")

    def _texts(self, field: str, texts: Iterable[str]) -> None:
        for i, text in enumerate(texts):
            if len(text) > self.max_text_chars:
                raise PayloadTooLarge(
                    f"{field}[{i}] has {len(text)} characters; the limit is {self.max_text_chars}"
                )
