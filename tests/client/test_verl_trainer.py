"""veRL 0.9.1's own trainer reward step (examples/verl/trainer_reward_path.py, in .venv-torch):
veRL's ppo_trainer config with the documented reward lines, RayPPOTrainer._get_gen_batch,
AgentLoopWorker.generate_sequences -> _agent_loop_postprocess -> RewardLoopWorker.compute_score ->
the reward loop's NaiveRewardManager.run_single -> examples/verl/reward.py -> a real service."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from micro_client import MicroClient

from model.paths import REPO_ROOT
from tests.client.torch_venv import run_in_torch_venv

SCRIPT = "examples/verl/trainer_reward_path.py"


def test_the_documented_lines_are_the_ones_run():
    tree = ast.parse((REPO_ROOT / SCRIPT).read_text())
    lines = next(ast.literal_eval(n.value) for n in tree.body
                 if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "REWARD_LINES")
    docs = (REPO_ROOT / "docs" / "integrations.md").read_text()
    assert len(lines) == 3 and all(line in docs for line in lines), lines


def test_the_trainer_reward_step_gives_each_sample_its_users_score(tastes: str, tmp_path: Path) -> None:
    out = tmp_path / "rewards.json"
    run_in_torch_venv(SCRIPT, tastes, "--name", "compute_score_async", "--name", "compute_score", "--out", str(out))
    results = json.loads(out.read_text())
    assert set(results) == {"compute_score_async", "compute_score"}
    with MicroClient(tastes) as mc:
        for result in results.values():
            samples = result["samples"]
            assert len(samples) == 12 and result["rm_scores_shape"] == result["responses_shape"]  # 6 rows x n=2
            for s in samples:  # one reward per sample, at its last response token (veRL's convention)
                assert s["nonzero"] == 1 and s["at"] == s["valid_length"] - 1
            expected = [mc.score(s["prompt"], [s["response"]], user_id=s["user_id"], context=s["context"]).scores[0]
                        for s in samples]
            prior = [mc.score(s["prompt"], [s["response"]]).scores[0] for s in samples]
            assert [s["reward"] for s in samples] == pytest.approx(expected, abs=1e-5)
            rewards = {(s["user_id"], json.dumps(s["prompt"]), s["response"]): s["reward"] for s in samples}
            pairs = [(r, rewards[("bob", p, x)]) for (u, p, x), r in rewards.items()
                     if u == "alice" and ("bob", p, x) in rewards]
            assert pairs and all(a != pytest.approx(b, abs=1e-3) for a, b in pairs)  # same text, opposite tastes
            assert all(s["reward"] != pytest.approx(p, abs=1e-4) for s, p in zip(samples, prior))  # not the prior


def test_a_row_without_its_prompt_fails_the_step(tastes: str) -> None:
    done = run_in_torch_venv(SCRIPT, tastes, "--drop-prompt", ok=False)
    assert "extra_info['prompt']" in done.stderr


def test_an_unreachable_service_fails_the_step_rather_than_scoring_zero(tmp_path: Path) -> None:
    done = run_in_torch_venv(SCRIPT, "http://127.0.0.1:9", "--out", str(tmp_path / "x.json"), ok=False)
    assert "MicroError" in done.stderr and not (tmp_path / "x.json").exists()
