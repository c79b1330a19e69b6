"""The load benchmark runs end to end on a tiny load (``--quick``): both servers start, every
phase reports, every ratio is printed. No benchmark figure is asserted here."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench.quick_run import run_quick

pytestmark = pytest.mark.slow
QUICK_RUN_LIMIT_S = 180  # a hang guard, not a speed check: ~50 s on 2 cores shared with other jobs (load 7)


def test_bench_load_quick_mode_runs_and_prints_every_ratio(tmp_path: Path):
    stdout, result = run_quick("bench.load", tmp_path / "bench.json", QUICK_RUN_LIMIT_S)
    for name in ("served_over_raw", "batched_over_naive", "feedback_p99_over_pair_p99"):
        assert name in stdout
    assert [r["concurrency"] for r in result["batched"]] == [1, 4] and result["naive"]
    assert all(r["n"] > 0 for r in result["batched"] + result["naive"])
    assert result["pair"]["feedback"]["n"] > 0 and set(result["round_trips"]) == {"score", "feedback"}
