"""MicroClient: the blocking client (httpx.Client), retries with backoff, typed results."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Self

import httpx

from micro_client import calls
from micro_client.config import ClientConfig
from micro_client.errors import MicroError
from micro_client.retry import delay_s, should_retry
from micro_client.types import (
    BulkFeedbackResult,
    FeedbackItem,
    FeedbackResult,
    NextQuery,
    Prompt,
    Ranked,
    Reward,
    ScoreItem,
    ScoreResult,
    User,
)


def ranked(responses: Sequence[str], result: ScoreResult) -> list[Ranked]:
    return [Ranked(i, responses[i], result.scores[i]) for i in result.ranking]


class MicroClient:
    """``MicroClient(base_url=None, api_key=None)``: arguments, else MICRO_URL / MICRO_API_KEY.
    ``fallback=True``: a planned batch endpoint the server lacks (404/405) is replaced by
    single calls, and remembered; ``False``: that MicroError is raised."""

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *, fallback: bool = True,
                 transport: httpx.BaseTransport | None = None, **settings: float) -> None:
        self.config = ClientConfig.resolve(base_url, api_key, **settings)
        self.fallback = fallback
        self.absent_routes: set[str] = set()
        self._http = httpx.Client(base_url=self.config.base_url, headers=self.config.headers(),
                                  timeout=self.config.timeout_s, transport=transport)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _run(self, call: calls.Call) -> Any:
        for attempt in range(self.config.max_retries + 1):
            last = attempt == self.config.max_retries
            try:
                response = self._http.request(call.method, call.path, json=call.body, params=call.params)
            except httpx.TransportError as exc:
                if last:
                    raise MicroError(None, "transport error", f"{type(exc).__name__}: {exc}") from exc
                time.sleep(delay_s(self.config, attempt, None))
                continue
            if response.is_success:
                return call.parse(response.json() if response.content else None)
            if last or not should_retry(response):
                raise MicroError.from_response(response)
            time.sleep(delay_s(self.config, attempt, response))
        raise AssertionError("unreachable")

    def score(self, prompt: Prompt, responses: Sequence[str], *, user_id: str | None = None,
              context: str | None = None, return_head_rewards: bool = False) -> ScoreResult:
        return self._run(calls.score(ScoreItem(prompt, list(responses), user_id, context), return_head_rewards))

    def rank(self, prompt: Prompt, responses: Sequence[str], *, user_id: str | None = None,
             context: str | None = None) -> list[Ranked]:
        """The responses best first, with their scores for this user."""
        return ranked(responses, self.score(prompt, responses, user_id=user_id, context=context))

    def score_many(self, items: Sequence[ScoreItem], *, return_head_rewards: bool = False) -> list[ScoreResult]:
        """Many prompts: ``POST /v1/score:batch`` when the server has it, else one score per item."""
        if items and calls.SCORE_BATCH_PATH not in self.absent_routes:
            try:
                return self._run(calls.score_batch(items, return_head_rewards))
            except MicroError as exc:
                self._note_missing(exc, calls.SCORE_BATCH_PATH)
        return [self._run(calls.score(item, return_head_rewards)) for item in items]

    def feedback(self, user_id: str, prompt: Prompt, chosen: str, rejected: str, *, context: str | None = None,
                 feedback_id: str | None = None) -> FeedbackResult:
        """One label; a feedback_id is generated when absent, so the retries apply it once."""
        return self._run(calls.feedback(user_id, calls.feedback_item(prompt, chosen, rejected, context, feedback_id)))

    def bulk_feedback(self, user_id: str, items: Sequence[FeedbackItem]) -> BulkFeedbackResult:
        """Labels of one user, applied in order: ``POST /v1/users/{id}/feedback:batch`` when the
        server has it, else one ``POST /v1/feedback`` per item (``via`` says which)."""
        if items and "feedback:batch" not in self.absent_routes:
            try:
                return BulkFeedbackResult(user_id, self._run(calls.feedback_batch(user_id, items)), "batch")
            except MicroError as exc:
                self._note_missing(exc, "feedback:batch")
        return BulkFeedbackResult(user_id, [self._run(calls.feedback(user_id, i)) for i in items], "sequential")

    def _note_missing(self, exc: MicroError, route: str) -> None:
        if not (self.fallback and exc.route_missing):
            raise exc
        self.absent_routes.add(route)

    def get_user(self, user_id: str) -> User:
        return self._run(calls.get_user(user_id))

    def set_context(self, user_id: str, context: str | None) -> User:
        return self._run(calls.set_context(user_id, context))

    def delete_user(self, user_id: str) -> None:
        self._run(calls.delete_user(user_id))

    def next_query(self, user_id: str, prompt: Prompt, responses: Sequence[str], *,
                   context: str | None = None) -> NextQuery:
        return self._run(calls.next_query(user_id, prompt, responses, context))

    def get_reward(self, queries: Sequence[str], prompts: Sequence[str] | None = None,
                   labels: Sequence[Any] | None = None, *, user_id: str | None = None) -> Reward:
        """The OpenRLHF protocol (POST /get_reward); a label may be {"user_id", "context"}."""
        return self._run(calls.get_reward(queries, prompts, labels, user_id))
