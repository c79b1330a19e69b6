"""The real-traffic benchmark runs end to end on a tiny load (``--quick``): both servers start,
every phase reports, every ratio is printed. No benchmark figure is asserted here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from model.paths import REPO_ROOT
from tests.helpers import TEST_REDIS_URL

pytestmark = pytest.mark.slow
QUICK_RUN_LIMIT_S = 300  # a hang guard, not a speed check: ~100 s on 2 cores shared with other jobs (load 9)


def test_bench_traffic_quick_mode_runs_and_prints_every_ratio(tmp_path: Path):
    out = tmp_path / "traffic.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.traffic", "--quick", "--redis-url", TEST_REDIS_URL, "--json", str(out)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=QUICK_RUN_LIMIT_S, check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(out.read_text())
    for name in result["ratios"]:
        assert name in done.stdout
    assert result["rl_batched"]["n"] > 0 and result["rl_naive"]["n"] > 0
    assert result["rl_batched"]["padding_efficiency"] is not None
    assert result["overload"]["live"]["n"] > 0
    assert result["fairness"]["giant_status"] == 200 and result["fairness"]["small_status"] == 200
