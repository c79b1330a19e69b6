"""Size limits from the settings: requests over them are refused with 413 before any work."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from service.config import Settings
from service.errors import PayloadTooLarge
from service.schemas import (
    ContextRequest,
    FeedbackBatchRequest,
    FeedbackLabel,
    PromptInput,
    RewardRequest,
    ScoreBatchRequest,
    ScoreRequest,
)


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

    @classmethod
    def from_settings(cls, s: Settings) -> Limits:
        return cls(s.max_responses, s.max_queries, s.max_text_chars, s.max_messages, s.max_context_chars,
                   s.max_batch_items, s.max_batch_responses, s.max_feedback_items)

    def score(self, req: ScoreRequest) -> None:
        self._count("responses", len(req.responses), self.max_responses)
        self._prompt(req)
        self._texts("responses", req.responses)

    def feedback(self, req: FeedbackLabel) -> None:
        self._prompt(req)
        self._texts("chosen", [req.chosen])
        self._texts("rejected", [req.rejected])

    def feedback_batch(self, req: FeedbackBatchRequest) -> None:
        """At most max_feedback_items labels, each within the /v1/feedback limits."""
        self._count("items", len(req.items), self.max_feedback_items)
        for i, item in enumerate(req.items):
            try:
                self.feedback(item)
            except PayloadTooLarge as exc:
                raise PayloadTooLarge(f"items[{i}]: {exc.detail}") from None

    def reward(self, req: RewardRequest) -> None:
        self._count("query", len(req.query), self.max_queries)
        self._texts("query", req.query)
        self._texts("prompts", req.prompts or [])
        for label in req.labels or []:
            self._context(label.context)

    def score_batch(self, req: ScoreBatchRequest) -> None:
        """Each item within the /v1/score limits, and the items and their responses in all."""
        self._count("items", len(req.items), self.max_batch_items)
        self._count("responses of all items", sum(len(i.responses) for i in req.items), self.max_batch_responses)
        for i, item in enumerate(req.items):
            try:
                self.score(item)
            except PayloadTooLarge as exc:
                raise PayloadTooLarge(f"items[{i}]: {exc.detail}") from None

    def context(self, req: ContextRequest) -> None:
        self._context(req.context)

    # ---- pieces ---------------------------------------------------------------------------
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
