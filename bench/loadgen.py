"""Closed-loop load on a running service: ``concurrency`` workers, each sending its next request
as soon as the previous one is answered, until ``max_tasks`` are started or ``max_seconds`` pass
(then the requests still in flight are cancelled: the client leaves, the server drops them)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable

import httpx

from bench import stats


class Recorder:
    """Latencies of answered requests by kind, responses scored, errors by kind and status."""

    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.responses = 0
        self.errors: Counter[str] = Counter()

    async def post(self, client: httpx.AsyncClient, kind: str, path: str, body: dict, n_responses: int = 0) -> dict | None:
        start = time.perf_counter()
        try:
            reply = await client.post(path, json=body)
        except httpx.HTTPError as exc:
            self.errors[f"{kind}:{exc.__class__.__name__}"] += 1
            return None
        if reply.status_code != 200:
            self.errors[f"{kind}:{reply.status_code}"] += 1
            return None
        self.latency[kind].append(time.perf_counter() - start)
        self.responses += n_responses
        return reply.json()

    def summary(self, kind: str) -> dict:
        lat = self.latency[kind]
        return {"n": len(lat), **{f"p{q}_ms": round(1000 * stats.percentile(lat, q), 1) for q in (50, 95, 99)}}


async def closed_loop(work: Callable[[int], Awaitable[None]], concurrency: int, max_tasks: int, max_seconds: float,
                      drain_s: float) -> float:
    """Runs ``work(0), work(1), ...`` on ``concurrency`` workers: no new task after ``max_tasks``
    tasks or ``max_seconds``; the tasks in flight then get ``drain_s`` more to finish (so the work
    the server has queued is not thrown away), after which they are cancelled. Returns the seconds
    from the start to the last finished task."""
    numbers = itertools.count()
    start = time.perf_counter()
    finished = start

    async def worker() -> None:
        nonlocal finished
        while time.perf_counter() - start < max_seconds:
            i = next(numbers)
            if i >= max_tasks:
                return
            await work(i)
            finished = time.perf_counter()

    tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
    _, pending = await asyncio.wait(tasks, timeout=max_seconds + drain_s)
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return finished - start if finished > start else time.perf_counter() - start


async def metrics_of(client: httpx.AsyncClient) -> stats.Samples:
    return stats.parse((await client.get("/metrics")).text)


def client_for(url: str, concurrency: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, timeout=300.0,
                             limits=httpx.Limits(max_connections=concurrency + 4, max_keepalive_connections=concurrency + 4))
