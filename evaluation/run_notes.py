"""What a report says about its own run: how long it took, on how many cores, and whether the
backbone embeddings came from the on-disk cache or were computed by this run (a cold cache, as
in a fresh clone, costs minutes more). And the one way figures are saved as JSON: folders made
first, the file replaced whole, so a report never points at figures that were not written."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any


def cache_shards(cache_dir: Path) -> int:
    """How many embedding shards the cache holds (every run that computes embeddings adds one)."""
    return sum(1 for _ in Path(cache_dir).rglob("shard-*.pt")) if Path(cache_dir).is_dir() else 0


class RunClock:
    """Started when made; :meth:`note` is the report's closing line."""

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = Path(cache_dir)
        self.started = time.perf_counter()
        self.shards_before = cache_shards(self.cache_dir)

    def seconds(self) -> float:
        return time.perf_counter() - self.started

    def note(self) -> str:
        seconds = self.seconds()
        took = f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} minutes"
        if cache_shards(self.cache_dir) > self.shards_before:
            how = "embeddings computed by this run (a cold cache; a second run reads them from the cache)"
        else:
            how = "embeddings read from the cache"
        return f"Measured in {took} on {os.cpu_count()} CPU cores, {how}."


def write_json(path: Path, value: Any) -> None:
    """``value`` as indented JSON at ``path``: parent folders made, the file replaced atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, suffix=".tmp", delete=False) as fh:
        fh.write(json.dumps(value, indent=1) + "\n")
    os.replace(fh.name, path)
