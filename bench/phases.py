"""The measured phases of bench.load, each against one running service, each reporting what it
saw in its own /metrics deltas (batch sizes, Redis round trips, embedding-cache hits)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bench import stats
from bench.loadgen import Recorder, client_for, closed_loop, metrics_of
from bench.workload import Call, feedback_body, score_body

NextCall = Callable[[], Call]
SETTLE_S = 0.3  # after a phase: the server finishes counting the requests the client left


def redis_round_trips(d: stats.Samples) -> float:
    """Redis calls of the request paths (every store call is one round trip; pings excluded)."""
    per_op = stats.by_label(d, "micro_redis_duration_seconds_count", "op")
    return sum(v for op, v in per_op.items() if op != "ping")


def server_view(d: stats.Samples, route: str) -> dict:
    requests = stats.total(d, "micro_requests_total", route=route)
    cache = stats.by_label(d, "micro_embedding_cache_total", "result")
    return {
        "server_requests": int(requests),
        "batch": stats.batch_sizes(d),
        "redis_per_request": round(redis_round_trips(d) / requests, 3) if requests else None,
        "cache_hits": int(cache.get("hit", 0)),
        "cache_misses": int(cache.get("miss", 0)),
    }


async def score_level(url: str, concurrency: int, next_call: NextCall, max_requests: int, max_seconds: float,
                      drain_s: float) -> dict:
    """Closed-loop /v1/score at one concurrency: responses scored per second and latencies."""
    rec = Recorder()
    async with client_for(url, concurrency) as client:
        before = await metrics_of(client)

        async def work(i: int) -> None:
            call = next_call()
            await rec.post(client, "score", "/v1/score", score_body(call, f"bench-u{i % 64}"), len(call.responses))

        seconds = await closed_loop(work, concurrency, max_requests, max_seconds, drain_s)
        await asyncio.sleep(SETTLE_S)
        d = stats.delta(before, await metrics_of(client))
    return {"concurrency": concurrency, "seconds": round(seconds, 2), "responses": rec.responses,
            "responses_per_s": round(rec.responses / seconds, 2), "errors": dict(rec.errors),
            **rec.summary("score"), **server_view(d, "/v1/score")}


async def pair_then_feedback(url: str, concurrency: int, next_pair: NextCall, max_tasks: int, max_seconds: float,
                             drain_s: float, run: str) -> dict:
    """Each task scores one pair for a user, then posts that user's label on the same pair (the
    product's flow): the feedback's texts are then embedding-cache hits, no forward."""
    rec = Recorder()
    async with client_for(url, concurrency) as client:
        before = await metrics_of(client)

        async def work(i: int) -> None:
            call, user = next_pair(), f"bench-p{i % 64}"
            if await rec.post(client, "score_pair", "/v1/score", score_body(call, user), 2) is not None:
                await rec.post(client, "feedback", "/v1/feedback", feedback_body(call, user, f"{run}-{i}"))

        seconds = await closed_loop(work, concurrency, max_tasks, max_seconds, drain_s)
        await asyncio.sleep(SETTLE_S)
        d = stats.delta(before, await metrics_of(client))
    cache = stats.by_label(d, "micro_embedding_cache_total", "result")
    return {"concurrency": concurrency, "seconds": round(seconds, 2), "errors": dict(rec.errors),
            "score_pair": rec.summary("score_pair"), "feedback": rec.summary("feedback"),
            "batch": stats.batch_sizes(d), "cache_hits": int(cache.get("hit", 0)),
            "cache_misses": int(cache.get("miss", 0))}


async def round_trips(url: str, next_pair: NextCall, n: int, run: str) -> dict:
    """Redis round trips per request, one request at a time (nothing else in flight): score with a
    user id, then feedback with a new feedback_id on a pair not scored before."""
    out = {}
    async with client_for(url, 1) as client:
        for kind in ("score", "feedback"):
            before = await metrics_of(client)
            for i in range(n):
                call, user = next_pair(), f"bench-rt{i}"
                body = score_body(call, user) if kind == "score" else feedback_body(call, user, f"{run}-rt{i}")
                (await client.post(f"/v1/{kind}", json=body)).raise_for_status()
            d = stats.delta(before, await metrics_of(client))
            out[kind] = round(redis_round_trips(d) / n, 3)
    return out
