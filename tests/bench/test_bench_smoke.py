"""The load benchmark runs end to end on a tiny load (``--quick``): both servers start, every
phase reports, every ratio is printed. No benchmark figure is asserted here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from model.paths import REPO_ROOT
from tests.helpers import TEST_REDIS_URL

pytestmark = pytest.mark.slow
QUICK_RUN_LIMIT_S = 180  # a hang guard, not a speed check: ~50 s on 2 cores shared with other jobs (load 7)


def test_bench_load_quick_mode_runs_and_prints_every_ratio(tmp_path: Path):
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.load", "--quick", "--redis-url", TEST_REDIS_URL, "--json", str(out)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=QUICK_RUN_LIMIT_S, check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    for name in ("served_over_raw", "batched_over_naive", "feedback_p99_over_pair_p99"):
        assert name in done.stdout
    result = json.loads(out.read_text())
    assert [r["concurrency"] for r in result["batched"]] == [1, 4] and result["naive"]
    assert all(r["n"] > 0 for r in result["batched"] + result["naive"])
    assert result["pair"]["feedback"]["n"] > 0 and set(result["round_trips"]) == {"score", "feedback"}
