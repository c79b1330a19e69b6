"""Per-sample (user, prompt, response) -> reward, as few service calls as possible: samples that
share user, prompt and context are scored in one /v1/score call (GRPO groups, best-of-N), the
groups concurrently (or in one ``/v1/score:batch`` once the server has it)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from micro_client.aio import AsyncMicroClient
from micro_client.types import Prompt, ScoreItem

MAX_RESPONSES = 64  # the service's default MICRO_MAX_RESPONSES
T = TypeVar("T")


@dataclass(frozen=True)
class Sample:
    prompt: Prompt
    response: str
    user_id: str | None = None
    context: str | None = None


def plan(samples: Sequence[Sample], max_responses: int = MAX_RESPONSES) -> list[tuple[ScoreItem, list[int]]]:
    """Score requests and, for each, the sample indices its responses answer (order kept)."""
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(samples):
        key = json.dumps([s.user_id, s.context, s.prompt if isinstance(s.prompt, str) else list(map(dict, s.prompt))])
        groups.setdefault(key, []).append(i)
    out = []
    for indices in groups.values():
        for start in range(0, len(indices), max_responses):
            chunk = indices[start:start + max_responses]
            first = samples[chunk[0]]
            out.append((ScoreItem(first.prompt, [samples[i].response for i in chunk], first.user_id, first.context),
                        chunk))
    return out


async def score_samples(client: AsyncMicroClient, samples: Sequence[Sample]) -> list[float]:
    """One reward per sample: the user's score of the response to the prompt."""
    requests = plan(samples)
    results = await client.score_many([item for item, _ in requests])
    rewards = [0.0] * len(samples)
    for (_, indices), result in zip(requests, results, strict=True):
        for i, score in zip(indices, result.scores, strict=True):
            rewards[i] = score
    return rewards


def run_blocking(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from sync code, also when this thread already runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=target, name="micro-client-blocking")
    worker.start()
    worker.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def score_samples_blocking(samples: Sequence[Sample], base_url: str | None = None,
                           api_key: str | None = None) -> list[float]:
    """``score_samples`` from sync code, with a client of its own (closed afterwards)."""

    async def go() -> list[float]:
        async with AsyncMicroClient(base_url, api_key) as client:
            return await score_samples(client, samples)

    return run_blocking(go())
