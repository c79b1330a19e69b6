"""Real-traffic benchmark: the RL pattern against the service and against a per-request-forward
server (same backbone, heads and backend; MICRO_BATCHING=false: one forward per request, no
cross-request batching) and the raw backbone loop, all in one run; then overload and fairness.

    .venv/bin/python -m bench.traffic                        # ~6 min on 2 cores
    .venv/bin/python -m bench.traffic --backend onnx-int8    # graphs from python -m model.export_onnx
    .venv/bin/python -m bench.traffic --quick                # a tiny load: checks that the bench runs

Phases: (1) raw loop on the RL texts; (2) the RL pattern (--rl-concurrency clients, one query per
/get_reward) on the batched server, (3) the same on the per-request server, (4) the raw loop again
(the machine's load drifts); (5) overload: --overload-clients clients x --overload-responses
responses on /v1/score, 429 latencies once the queue is full, /health/live throughout; (6)
fairness: a 2-response /v1/score sent --small-after-s into a maximal /get_reward.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import uuid
from pathlib import Path

from bench import phases
from bench.cli import delete_keys, ints, parse_with_quick
from bench.raw import load_encoder, raw_rl
from bench.report import machine, traffic_ratios, traffic_render
from bench.server import bench_settings
from bench.workload import dsp_items, giant_body, many_responses_bodies, rl_bodies, small_body
from evaluation.service_process import ServiceProcess
from model.paths import DEFAULT_CHECKPOINT

QUICK = {"rl_concurrency": 8, "rl_requests": 16, "seconds": 15.0, "drain_seconds": 30.0, "raw_queries": 8,
         "raw_batch_sizes": "8", "overload_clients": 8, "overload_responses": 4, "overload_seconds": 3.0,
         "giant_queries": 8, "giant_chars": 2000, "small_after_s": 0.2}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    p.add_argument("--redis-url", default=os.environ.get("MICRO_REDIS_URL", "redis://127.0.0.1:6379/0"))
    p.add_argument("--backend", default="auto", choices=["auto", "torch", "torch-bf16", "onnx", "onnx-int8"],
                   help="MICRO_BACKEND of both servers (auto: the service's default)")
    p.add_argument("--rl-concurrency", type=int, default=64, help="single-query /get_reward requests in flight")
    p.add_argument("--rl-requests", type=int, default=600, help="at most this many requests per server")
    p.add_argument("--seconds", type=float, default=40.0, help="no new RL request after this long (per server)")
    p.add_argument("--drain-seconds", type=float, default=60.0)
    p.add_argument("--raw-queries", type=int, default=128, help="queries' texts for the raw loop")
    p.add_argument("--raw-batch-sizes", default="16,32,64")
    p.add_argument("--overload-clients", type=int, default=300)
    p.add_argument("--overload-responses", type=int, default=32)
    p.add_argument("--overload-seconds", type=float, default=20.0)
    p.add_argument("--giant-queries", type=int, default=256, help="the maximal /get_reward: MICRO_MAX_QUERIES")
    p.add_argument("--giant-chars", type=int, default=3900,
                   help="characters a query (256 x 3,900 fits MICRO_MAX_TOTAL_CHARS; each fills the 256-token window)")
    p.add_argument("--small-after-s", type=float, default=2.0,
                   help="the small request is sent this long into the giant")
    p.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                   help="a MICRO_* setting (repeatable)")
    p.add_argument("--phases", default="rl,overload,fairness", help="which phases to run")
    return parse_with_quick(p, argv, QUICK)


async def measure(args: argparse.Namespace, url: str, naive_url: str, run: str) -> dict:
    items = dsp_items()
    encoder = load_encoder(args.checkpoint, args.backend)
    stream = rl_bodies(items, run + "raw")
    raw_bodies = [next(stream) for _ in range(args.raw_queries)]
    out: dict = {}
    wanted = args.phases.split(",")
    if "rl" in wanted:
        out["raw_before"] = raw_rl(encoder, args.checkpoint, args.backend, raw_bodies, ints(args.raw_batch_sizes))
        bounds = (args.rl_requests, args.seconds, args.drain_seconds)
        out["rl_batched"] = await phases.rl_level(url, args.rl_concurrency, rl_bodies(items, run + "b"), *bounds)
        out["rl_naive"] = await phases.rl_level(naive_url, args.rl_concurrency, rl_bodies(items, run + "n"), *bounds)
        best = [out["raw_before"]["best_batch_size"]]
        out["raw_after"] = raw_rl(encoder, args.checkpoint, args.backend, raw_bodies, best)
    del encoder
    if "overload" in wanted:
        out["overload"] = await phases.overload(url, args.overload_clients,
                                                many_responses_bodies(items, run, args.overload_responses),
                                                args.overload_seconds)
        await asyncio.sleep(5.0)  # the overload's admitted requests finish
    if "fairness" in wanted:
        out["fairness"] = await phases.fairness(url, giant_body(items, run, args.giant_queries, args.giant_chars),
                                                small_body(items, run), args.small_after_s)
    return out


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    run = uuid.uuid4().hex[:6]
    prefix = f"bench-{run}"
    info = machine()
    log_dir = Path(tempfile.mkdtemp(prefix="bench-traffic-"))
    settings = {**bench_settings(args, prefix), "backend": args.backend}
    servers = [ServiceProcess(log_dir / "batched.log", **settings).start(),
               ServiceProcess(log_dir / "naive.log", **settings, batching="false").start()]
    try:
        urls = [s.wait_ready().rstrip("/") for s in servers]
        result = asyncio.run(measure(args, urls[0], urls[1], run))
    finally:
        for s in servers:
            s.stop()
        delete_keys(args.redis_url, prefix)
    info["loadavg_end"] = os.getloadavg()
    result.update(machine=info, settings={k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                  server_logs=str(log_dir))
    result["ratios"] = traffic_ratios(result)
    print(traffic_render(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
