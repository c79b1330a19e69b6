"""The measured phases of the benches, each against one running service, each reporting what it
saw in its own /metrics deltas (batch sizes, padding, Redis round trips, embedding-cache hits).

bench.load: /v1/score at a concurrency, score-then-feedback, Redis round trips per request.
bench.traffic: the RL pattern (closed loop of single-query /get_reward), overload (many clients x
many responses: how fast 429s come, /health/live throughout) and fairness (a small score while a
maximal /get_reward runs)."""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import time
from collections.abc import Callable, Iterator

import httpx

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


# ---- bench.traffic ---------------------------------------------------------------------------
def padding(d: stats.Samples) -> dict:
    real, padded = stats.total(d, "micro_batch_real_tokens_total"), stats.total(d, "micro_batch_padded_tokens_total")
    return {"real_tokens": int(real), "padded_tokens": int(padded),
            "padding_efficiency": round(real / padded, 3) if padded else None}


async def rl_level(url: str, concurrency: int, bodies: Iterator[dict], max_requests: int, max_seconds: float,
                   drain_s: float) -> dict:
    """Closed-loop /get_reward, one query per request: queries scored per second, latencies,
    batch sizes and padding efficiency from the server's /metrics."""
    rec = Recorder()
    async with client_for(url, concurrency) as client:
        before = await metrics_of(client)

        async def work(i: int) -> None:
            await rec.post(client, "rl", "/get_reward", next(bodies), 1)

        seconds = await closed_loop(work, concurrency, max_requests, max_seconds, drain_s)
        await asyncio.sleep(SETTLE_S)
        d = stats.delta(before, await metrics_of(client))
    return {"concurrency": concurrency, "seconds": round(seconds, 2), "queries": rec.responses,
            "queries_per_s": round(rec.responses / seconds, 2), "errors": dict(rec.errors), **rec.summary("rl"),
            "batch": stats.batch_sizes(d), **padding(d)}


def _percentiles(values: list[float]) -> dict:
    return {"n": len(values), **{f"p{q}_ms": round(1000 * stats.percentile(values, q), 1) if values else None
                                 for q in (50, 99)}, "max_ms": round(1000 * max(values), 1) if values else None}


async def overload(url: str, clients: int, bodies: Iterator[dict], seconds: float, probe_every_s: float = 0.05) -> dict:
    """``clients`` closed-loop clients posting /v1/score for ``seconds`` (a refused client retries
    after 10 ms), while a probe process GETs /health/live and posts one such score every
    ``probe_every_s``: its 429s' latencies are the server's (the clients' own include their event
    loop's queueing: ``refused_429_at_clients``, counted from the first 429 on)."""
    ok, refused, errors = [], [], 0
    first_429: list[float] = []
    stop = time.perf_counter() + seconds
    async with client_for(url, clients) as client:

        async def one() -> None:
            nonlocal errors
            while time.perf_counter() < stop:
                start = time.perf_counter()
                try:
                    reply = await client.post("/v1/score", json=next(bodies))
                except httpx.HTTPError:
                    errors += 1
                    continue
                took = time.perf_counter() - start
                if reply.status_code == 429:
                    first_429 or first_429.append(start)
                    refused.append(took)
                    await asyncio.sleep(0.01)  # a client that ignores Retry-After, nearly at once
                elif reply.status_code == 200:
                    ok.append(took)
                else:
                    errors += 1

        prober_out, prober_in = multiprocessing.Pipe(duplex=False)
        prober = multiprocessing.get_context("spawn").Process(
            target=probe, args=(url, seconds, probe_every_s, next(bodies), prober_in))
        prober.start()
        tasks = [asyncio.create_task(one()) for _ in range(clients)]
        await asyncio.wait(tasks, timeout=seconds + 120)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        live, probe_refused = await asyncio.to_thread(prober_out.recv)
        prober.join(10)
    return {"clients": clients, "seconds": seconds, "ok": _percentiles(ok), "refused_429": _percentiles(probe_refused),
            "refused_429_at_clients": _percentiles(refused), "live": _percentiles(live), "errors": errors}


def probe(url: str, seconds: float, every_s: float, score_body: dict, out) -> None:
    """From a process of its own (the load generator's event loop does not delay it), for
    ``seconds``: GET /health/live, then POST one /v1/score like the load's, every ``every_s``.
    Sends (live latencies, latencies of the probe's scores answered 429); 30 s: no answer."""
    live, refused = [], []
    stop = time.perf_counter() + seconds
    with httpx.Client(base_url=url, timeout=30.0) as client:
        for i in itertools.count():
            if time.perf_counter() >= stop:
                break
            start = time.perf_counter()
            try:
                client.get("/health/live").raise_for_status()
                live.append(time.perf_counter() - start)
            except httpx.HTTPError:
                live.append(30.0)
            body = {**score_body, "prompt": f"[probe-{i}] {score_body['prompt']}"}
            start = time.perf_counter()
            try:
                if client.post("/v1/score", json=body).status_code == 429:
                    refused.append(time.perf_counter() - start)
            except httpx.HTTPError:
                pass
            time.sleep(every_s)
    out.send((live, refused))


async def fairness(url: str, giant: dict, small: dict, small_after_s: float) -> dict:
    """The maximal /get_reward, and ``small_after_s`` into it a 2-response /v1/score: both times."""
    async with client_for(url, 2) as client:
        async def timed(path: str, body: dict, delay: float) -> tuple[float, int]:
            await asyncio.sleep(delay)
            start = time.perf_counter()
            reply = await client.post(path, json=body, timeout=600.0)
            return time.perf_counter() - start, reply.status_code

        (giant_s, giant_status), (small_s, small_status) = await asyncio.gather(
            timed("/get_reward", giant, 0.0), timed("/v1/score", small, small_after_s))
    return {"giant_s": round(giant_s, 2), "giant_status": giant_status, "small_s": round(small_s, 3),
            "small_status": small_status, "small_over_giant": round(small_s / giant_s, 3),
            "giant_queries": len(giant["query"]), "giant_chars": len(giant["query"][0])}
