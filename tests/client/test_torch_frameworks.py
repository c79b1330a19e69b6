"""The frameworks that need torch, run for real in .venv-torch (scripts/integrations.sh --torch)
against a real server: veRL 0.9.1's own naive and batch reward managers, and a few GRPO steps of
TRL 1.16.0's GRPOTrainer with micro_client's reward. Skipped, saying so, without that venv."""

from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path

import pytest
from micro_client import MicroClient

from model.paths import REPO_ROOT
from tests.client.conftest import teach

TORCH_PYTHON = REPO_ROOT / ".venv-torch" / "bin" / "python"


def run_example(script: str, micro_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    if not TORCH_PYTHON.exists():
        pytest.skip(".venv-torch missing: run scripts/integrations.sh --torch")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICRO_")} | {"MICRO_URL": micro_url}
    done = subprocess.run([str(TORCH_PYTHON), str(REPO_ROOT / script), *args], capture_output=True, text=True,
                          timeout=400, env=env, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_verl_reward_managers_give_each_rows_user_their_score(micro_url: str, tmp_path: Path) -> None:
    with MicroClient(micro_url) as mc:
        teach(mc, "alice")
    out = tmp_path / "verl.json"
    run_example("examples/verl/reward_manager_path.py", micro_url, str(out))
    results = json.loads(out.read_text())
    with MicroClient(micro_url) as mc:
        expected = [mc.score(r["prompt"], [r["response"]], user_id=r["user_id"], context=r["context"]).scores[0]
                    for r in results]
        prior = [mc.score(r["prompt"], [r["response"]]).scores[0] for r in results]
    assert [r["naive"] for r in results] == pytest.approx(expected, abs=1e-3)
    assert [r["batch"] for r in results] == pytest.approx(expected, abs=1e-3)
    assert results[0]["user_id"] == "alice" and results[0]["naive"] != pytest.approx(prior[0], abs=1e-4)


def test_trl_grpo_trains_a_few_steps_on_the_services_rewards(micro_url: str) -> None:
    done = run_example("examples/trl/train_grpo.py", micro_url, "--steps", "2")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["steps"] == 2 and len(summary["mean_reward_per_step"]) == 2
    assert all(math.isfinite(r) for r in summary["mean_reward_per_step"])
