"""The measured phases of bench.traffic: the RL pattern (closed loop of single-query /get_reward),
overload (many clients x many responses: how fast 429s come, /health/live throughout) and
fairness (a small score while a maximal /get_reward runs)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx

from bench import stats
from bench.loadgen import Recorder, client_for, closed_loop, metrics_of

SETTLE_S = 0.3


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
    at once), while a probe GETs /health/live every ``probe_every_s``. 429 latencies count from
    the first 429 on (the queue is full from then)."""
    ok, refused, live, errors = [], [], [], 0
    first_429: list[float] = []
    stop = time.perf_counter() + seconds
    async with client_for(url, clients) as client, client_for(url, 1) as prober:

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

        async def probe() -> None:
            while time.perf_counter() < stop:
                start = time.perf_counter()
                try:
                    (await prober.get("/health/live", timeout=30.0)).raise_for_status()
                    live.append(time.perf_counter() - start)
                except httpx.HTTPError:
                    live.append(30.0)
                await asyncio.sleep(probe_every_s)

        tasks = [asyncio.create_task(one()) for _ in range(clients)] + [asyncio.create_task(probe())]
        await asyncio.wait(tasks, timeout=seconds + 120)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {"clients": clients, "seconds": seconds, "ok": _percentiles(ok), "refused_429": _percentiles(refused),
            "live": _percentiles(live), "errors": errors}


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
