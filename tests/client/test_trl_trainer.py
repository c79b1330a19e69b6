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


def rewards_of(samples: list[dict]) -> dict[tuple[str, str, str], float]:
    """(user, the prompt's text, completion) -> the async reward."""
    text = lambda p: p if isinstance(p, str) else p[0]["content"]  # noqa: E731 - one user message
    return {(s["user_id"], text(s["prompt"]), s["completion"]): s["rewards"][0] for s in samples}


def test_calculate_rewards_gives_each_completion_its_users_score_in_either_format(tastes: str, tmp_path: Path) -> None:
    by_form = {}
    for form in ("conversational", "standard"):
        out = tmp_path / f"{form}.json"
        run_in_torch_venv("examples/trl/reward_step.py", tastes, str(out), *(["--standard"] if form == "standard" else []))
        result = json.loads(out.read_text())
        samples = by_form[form] = result["samples"]
        assert result["shape"] == [len(samples), 2] and len(samples) == 24
        assert result["funcs"] == ["micro_reward", "reward"]
        with MicroClient(tastes) as mc:
            expected = [mc.score(s["prompt"], [s["completion"]], user_id=s["user_id"]).scores[0] for s in samples]
        for k in range(2):  # the async reward and the sync one
            assert [s["rewards"][k] for s in samples] == pytest.approx(expected, abs=1e-5)
        rewards = rewards_of(samples)
        pairs = [(v, rewards[("bob", p, c)]) for (u, p, c), v in rewards.items() if u == "alice" and ("bob", p, c) in rewards]
        assert pairs and all(a != pytest.approx(b, abs=1e-3) for a, b in pairs)  # opposite tastes, other rewards
    conversational, standard = (rewards_of(by_form[f]) for f in ("conversational", "standard"))
    shared = conversational.keys() & standard.keys()
    assert shared and all(conversational[k] == pytest.approx(standard[k], abs=1e-6) for k in shared)  # one prompt, one text


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
