"""The measured phases of bench.traffic: the RL pattern (closed loop of single-query /get_reward),
overload (many clients x many responses: how fast 429s come, /health/live throughout) and
fairness (a small score while a maximal /get_reward runs)."""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
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
