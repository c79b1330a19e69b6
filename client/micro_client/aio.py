"""AsyncMicroClient: the asyncio client (httpx.AsyncClient); same calls, same retries."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Self

import httpx

from micro_client import calls
from micro_client import types as t
from micro_client.config import ClientConfig
from micro_client.errors import MicroError
from micro_client.retry import delay_s, should_retry
from micro_client.sync import ranked


class AsyncMicroClient:
    """The async twin of MicroClient. ``concurrency`` bounds the single calls of a fallback
    (``score_many`` without the batch endpoint); bulk feedback stays sequential (order matters)."""

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *, fallback: bool = True,
                 concurrency: int = 16, transport: httpx.AsyncBaseTransport | None = None,
                 **settings: float) -> None:
        self.config = ClientConfig.resolve(base_url, api_key, **settings)
        self.fallback = fallback
        self.concurrency = concurrency
        self.absent_routes: set[str] = set()
        self._http = httpx.AsyncClient(base_url=self.config.base_url, headers=self.config.headers(),
                                       timeout=self.config.timeout_s, transport=transport)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _run(self, call: calls.Call) -> Any:
        for attempt in range(self.config.max_retries + 1):
            last = attempt == self.config.max_retries
            try:
                response = await self._http.request(call.method, call.path, json=call.body, params=call.params)
            except httpx.TransportError as exc:
                if last:
                    raise MicroError(None, "transport error", f"{type(exc).__name__}: {exc}") from exc
                await asyncio.sleep(delay_s(self.config, attempt, None))
                continue
            if response.is_success:
                return call.parse(response.json() if response.content else None)
            if last or not should_retry(response):
                raise MicroError.from_response(response)
            await asyncio.sleep(delay_s(self.config, attempt, response))
        raise AssertionError("unreachable")

    async def score(self, prompt: t.Prompt, responses: Sequence[str], *, user_id: str | None = None,
                    context: str | None = None, return_head_rewards: bool = False) -> t.ScoreResult:
        return await self._run(calls.score(t.ScoreItem(prompt, list(responses), user_id, context), return_head_rewards))

    async def rank(self, prompt: t.Prompt, responses: Sequence[str], *, user_id: str | None = None,
                   context: str | None = None) -> list[t.Ranked]:
        return ranked(responses, await self.score(prompt, responses, user_id=user_id, context=context))

    async def score_many(self, items: Sequence[t.ScoreItem], *,
                         return_head_rewards: bool = False) -> list[t.ScoreResult]:
        """Many prompts: ``POST /v1/score:batch`` when the server has it, else concurrent single scores."""
        if items and calls.SCORE_BATCH_PATH not in self.absent_routes:
            try:
                return await self._run(calls.score_batch(items, return_head_rewards))
            except MicroError as exc:
                self._note_missing(exc, calls.SCORE_BATCH_PATH)
        gate = asyncio.Semaphore(self.concurrency)

        async def one(item: t.ScoreItem) -> t.ScoreResult:
            async with gate:
                return await self._run(calls.score(item, return_head_rewards))

        return list(await asyncio.gather(*(one(item) for item in items)))

    async def feedback(self, user_id: str, prompt: t.Prompt, chosen: str, rejected: str, *,
                       context: str | None = None, feedback_id: str | None = None) -> t.FeedbackResult:
        item = calls.feedback_item(prompt, chosen, rejected, context, feedback_id)
        return await self._run(calls.feedback(user_id, item))

    async def bulk_feedback(self, user_id: str, items: Sequence[t.FeedbackItem]) -> t.BulkFeedbackResult:
        if items and "feedback:batch" not in self.absent_routes:
            try:
                return t.BulkFeedbackResult(user_id, await self._run(calls.feedback_batch(user_id, items)), "batch")
            except MicroError as exc:
                self._note_missing(exc, "feedback:batch")
        return t.BulkFeedbackResult(user_id, [await self._run(calls.feedback(user_id, i)) for i in items], "sequential")

    def _note_missing(self, exc: MicroError, route: str) -> None:
        if not (self.fallback and exc.route_missing):
            raise exc
        self.absent_routes.add(route)

    async def get_user(self, user_id: str) -> t.User:
        return await self._run(calls.get_user(user_id))

    async def set_context(self, user_id: str, context: str | None) -> t.User:
        return await self._run(calls.set_context(user_id, context))

    async def delete_user(self, user_id: str) -> None:
        await self._run(calls.delete_user(user_id))

    async def next_query(self, user_id: str, prompt: t.Prompt, responses: Sequence[str], *,
                         context: str | None = None) -> t.NextQuery:
        return await self._run(calls.next_query(user_id, prompt, responses, context))

    async def get_reward(self, queries: Sequence[str], prompts: Sequence[str] | None = None,
                         labels: Sequence[Any] | None = None, *, user_id: str | None = None) -> t.Reward:
        return await self._run(calls.get_reward(queries, prompts, labels, user_id))
