"""TRL 1.16.0's own GRPO reward step (examples/trl/reward_step.py, in .venv-torch): a GRPOTrainer,
its RepeatSampler's first batch, ``GRPOTrainer._calculate_rewards`` with micro_client's async and
sync rewards, against a real service; and the GRPO example (examples/trl/train_grpo.py) in its
quick form, logging each user's mean reward per step."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from micro_client import MicroClient

from tests.client.torch_venv import run_in_torch_venv


@pytest.mark.parametrize("form", ["conversational", "standard"])
def test_calculate_rewards_gives_each_completion_its_users_score(tastes: str, tmp_path: Path, form: str) -> None:
    out = tmp_path / "rewards.json"
    run_in_torch_venv("examples/trl/reward_step.py", tastes, str(out), *(["--standard"] if form == "standard" else []))
    result = json.loads(out.read_text())
    samples = result["samples"]
    assert result["shape"] == [len(samples), 2] and len(samples) == 24 and result["funcs"] == ["micro_reward", "reward"]
    with MicroClient(tastes) as mc:
        expected = [mc.score(s["prompt"], [s["completion"]], user_id=s["user_id"]).scores[0] for s in samples]
    for k in range(2):  # the async reward and the sync one
        assert [s["rewards"][k] for s in samples] == pytest.approx(expected, abs=1e-5)
    by_user = {(s["user_id"], json.dumps(s["prompt"]), s["completion"]): s["rewards"][0] for s in samples}
    pairs = [(v, by_user[("bob", p, c)]) for (u, p, c), v in by_user.items() if u == "alice" and ("bob", p, c) in by_user]
    assert pairs and all(a != pytest.approx(b, abs=1e-3) for a, b in pairs)  # opposite tastes, other rewards


def test_calculate_rewards_raises_when_the_service_refuses(tastes: str, tmp_path: Path) -> None:
    done = run_in_torch_venv("examples/trl/reward_step.py", tastes, str(tmp_path / "x.json"), "--bad-user", ok=False)
    assert "MicroError: 422" in done.stderr and not (tmp_path / "x.json").exists()


def test_the_grpo_example_logs_each_users_mean_reward_per_step(micro_url: str, tmp_path: Path) -> None:
    log = tmp_path / "grpo.jsonl"  # the example labels its own two users (brief, verbose)
    run_in_torch_venv("examples/trl/train_grpo.py", micro_url, "--quick", "--log", str(log))
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(s["policy_for"], s["step"]) for s in lines] == [("brief", 1), ("brief", 2), ("verbose", 1), ("verbose", 2)]
    for s in lines:  # each step: both users' mean reward of the step's completions
        assert set(s["mean_reward"]) == {"brief", "verbose"} and all(map(math.isfinite, s["mean_reward"].values()))
