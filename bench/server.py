"""The benchmark's servers, started with the one harness (evaluation/service_process.py): a batched server
with the bench's settings and a naive one, the same settings with MICRO_BATCHING=false."""

from __future__ import annotations

import argparse
from pathlib import Path

from evaluation.service_process import ServiceProcess


def bench_settings(args: argparse.Namespace, prefix: str) -> dict[str, object]:
    """MICRO_* settings (without the prefix) shared by both servers; ``--server-env`` last."""
    settings: dict[str, object] = {"checkpoint": args.checkpoint.resolve(), "redis_url": args.redis_url,
                                   "key_prefix": prefix}
    for pair in args.server_env:
        name, _, value = pair.partition("=")
        settings[name.removeprefix("MICRO_").lower()] = value
    return settings


def start_servers(args: argparse.Namespace, prefix: str, log_dir: Path,
                  naive_wanted: bool) -> tuple[ServiceProcess | None, ServiceProcess | None]:
    """(batched, naive), each None when a URL was given instead (or no naive level is asked for).
    Both are started at once, so they load their model together; call ``wait_ready`` on each."""
    settings = bench_settings(args, prefix)
    batched = None if args.url else ServiceProcess(log_dir / "batched.log", **settings).start()
    naive = None
    if naive_wanted and not args.naive_url:
        naive = ServiceProcess(log_dir / "naive.log", **settings, batching="false").start()
    return batched, naive
