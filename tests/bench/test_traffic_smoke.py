"""The real-traffic benchmark runs end to end on a tiny load (``--quick``): both servers start,
every phase reports, every ratio is printed. No benchmark figure is asserted here."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench.quick_run import run_quick

pytestmark = pytest.mark.slow
QUICK_RUN_LIMIT_S = 300  # a hang guard, not a speed check: ~100 s on 2 cores shared with other jobs (load 9)


def test_bench_traffic_quick_mode_runs_and_prints_every_ratio(tmp_path: Path):
    stdout, result = run_quick("bench.traffic", tmp_path / "traffic.json", QUICK_RUN_LIMIT_S)
    for name in result["ratios"]:
        assert name in stdout
    assert result["rl_batched"]["n"] > 0 and result["rl_naive"]["n"] > 0
    assert result["rl_batched"]["padding_efficiency"] is not None
    assert result["overload"]["live"]["n"] > 0
    assert result["fairness"]["giant_status"] == 200 and result["fairness"]["small_status"] == 200
