"""What the bench entry points share: --quick / --json on top of a bench's flags, comma lists, and
the clean-up of a run's Redis keys."""

from __future__ import annotations

import argparse
from pathlib import Path

import redis


def parse_with_quick(p: argparse.ArgumentParser, argv: list[str] | None, quick: dict) -> argparse.Namespace:
    """A bench's flags plus --quick (the ``quick`` values replace the flags: a tiny load) and --json."""
    p.add_argument("--quick", action="store_true", help="a tiny load, to check that the bench runs")
    p.add_argument("--json", type=Path, help="also write every figure here")
    args = p.parse_args(argv)
    if args.quick:
        for name, value in quick.items():
            setattr(args, name, value)
    return args


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def delete_keys(redis_url: str, prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
