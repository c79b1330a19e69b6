"""Load benchmark of the service: throughput and latency under concurrency, against the backbone's
own throughput and a naive server without cross-request batching; one command prints every ratio.

    .venv/bin/python -m bench.load                       # starts two servers on checkpoints/default (~5 min)
    .venv/bin/python -m bench.load --quick               # a tiny load: checks that the bench runs (~1 min)
    .venv/bin/python -m bench.load --url http://127.0.0.1:8000 --naive-url http://127.0.0.1:8001

Phases, all in one run: (1) the raw backbone: model.backbone.Encoder in this process on the same
texts, best of a few batch sizes; (2) /v1/score at each --levels concurrency on the batched server;
(3) the same at --naive-levels on a server started with MICRO_BATCHING=false (one forward per
request); (4) score a pair then post feedback on it, at --key-level; (5) Redis round trips per
score and per feedback, one request at a time. Each level is bounded by --requests and --seconds.
Every text is unique (bench/workload.py), so embedding-cache hits happen only in phase 4's feedback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import uuid
from pathlib import Path

from bench import phases, report
from bench.cli import delete_keys, ints, parse_with_quick
from bench.raw import load_encoder, raw_throughput
from bench.server import start_servers
from bench.workload import calls, dsp_items
from model.paths import DEFAULT_CHECKPOINT

QUICK = {"levels": "1,4", "naive_levels": "4", "key_level": 4, "requests": 4, "seconds": 20.0, "drain_seconds": 20.0,
         "responses": 2,
         "pair_tasks": 4, "raw_calls": 2, "raw_batch_sizes": "4", "probe": 2}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", help="a running service (default: start one)")
    p.add_argument("--naive-url", help="a running service with MICRO_BATCHING=false (default: start one)")
    p.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    p.add_argument("--redis-url", default=os.environ.get("MICRO_REDIS_URL", "redis://127.0.0.1:6379/0"))
    p.add_argument("--levels", default="1,8,32,128", help="concurrencies of the batched server")
    p.add_argument("--naive-levels", default="32", help="concurrencies of the naive server")
    p.add_argument("--key-level", type=int, default=32, help="the concurrency the ratios are taken at")
    p.add_argument("--requests", type=int, default=400, help="at most this many requests per level")
    p.add_argument("--seconds", type=float, default=30.0, help="no new request after this long (per level and phase)")
    p.add_argument("--drain-seconds", type=float, default=60.0,
                   help="then the requests in flight get this long to finish before they are cancelled")
    p.add_argument("--responses", type=int, default=5, help="responses per /v1/score call (DSP has 5 per query)")
    p.add_argument("--pair-tasks", type=int, default=200, help="score-then-feedback tasks in phase 4")
    p.add_argument("--raw-calls", type=int, default=24, help="calls' worth of texts for the raw backbone")
    p.add_argument("--raw-batch-sizes", default="8,16,32")
    p.add_argument("--probe", type=int, default=5, help="requests of each kind for the round-trip count")
    p.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                   help="a MICRO_* setting for the servers started here, e.g. MICRO_MAX_BATCH_TOKENS=2048 (repeatable)")
    return parse_with_quick(p, argv, QUICK)


async def measure(args: argparse.Namespace, url: str, naive_url: str | None, run: str) -> dict:
    items = dsp_items()
    stream, pairs = calls(items, run, args.responses), calls(items[::-1], run + "p", 2)
    encoder = load_encoder(args.checkpoint, "auto")  # as the servers resolve MICRO_BACKEND
    raw_calls = [next(stream) for _ in range(args.raw_calls)]
    raw = raw_throughput(encoder, raw_calls, ints(args.raw_batch_sizes))
    out: dict = {"raw": raw, "batched": [], "naive": []}
    bounds = (args.requests, args.seconds, args.drain_seconds)
    for c in ints(args.levels):
        out["batched"].append(await phases.score_level(url, c, lambda: next(stream), *bounds))
        if c == args.key_level:  # again right after the key level: the machine's load drifts (shared cores)
            again = raw_throughput(encoder, raw_calls, [raw["best_batch_size"]])["responses_per_s"]
            raw.update(before=raw["responses_per_s"], after=again,
                       responses_per_s=round((raw["responses_per_s"] + again) / 2, 2))
    del encoder
    for c in ints(args.naive_levels):
        out["naive"].append(await phases.score_level(naive_url, c, lambda: next(stream), *bounds))
    if args.pair_tasks:
        out["pair"] = await phases.pair_then_feedback(url, args.key_level, lambda: next(pairs), args.pair_tasks,
                                                      args.seconds, args.drain_seconds, run)
    if args.probe:
        out["round_trips"] = await phases.round_trips(url, lambda: next(pairs), args.probe, run)
    return out


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    run = uuid.uuid4().hex[:6]
    prefix = f"bench-{run}"
    machine = report.machine()
    log_dir = Path(tempfile.mkdtemp(prefix="bench-load-"))
    batched, naive = start_servers(args, prefix, log_dir, bool(ints(args.naive_levels)))  # load together
    servers = [s for s in (batched, naive) if s is not None]
    try:
        url = batched.wait_ready() if batched else args.url
        naive_url = naive.wait_ready() if naive else args.naive_url
        result = asyncio.run(measure(args, url.rstrip("/"), naive_url and naive_url.rstrip("/"), run))
    finally:
        for s in servers:
            s.stop()
        if servers:
            delete_keys(args.redis_url, prefix)
    machine["loadavg_end"] = os.getloadavg()
    result.update(machine=machine, settings={k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                  server_logs=str(log_dir))
    result["ratios"] = report.ratios(result, args.key_level)
    print(report.render(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
