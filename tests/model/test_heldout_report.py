"""The held-out table (head chosen on a user's validation pairs, scored on their held-out pairs),
the refit on all pairs, the no-step refusal, and checkpoint files readable by any uid."""

from __future__ import annotations

import os
import stat
from dataclasses import asdict

import pytest
import torch

from model.backbone import BackboneInfo
from model.checkpoint import CONFIG_FILE, WEIGHTS_FILE, CheckpointConfig, save_checkpoint
from model.data import PreferencePair
from model.fitting import FitConfig, FitResult, PairTensors
from model.heads import MixtureRewardModel
from model.heldout_report import format_report, held_out_report, mixture_advice, name_served_heads
from model.refit import NoStepError, check_trained, refit_on_all


def two_head_model() -> MixtureRewardModel:
    """Head 0 rewards coordinate 0, head 1 coordinate 1."""
    model = MixtureRewardModel(2, 2)
    with torch.no_grad():
        model.heads.weight.copy_(torch.eye(2))
        model.router.weight.zero_()
        model.router.bias.zero_()
    return model


def user_pairs(users: list[str]) -> tuple[list[PreferencePair], PairTensors]:
    """ann's chosen responses win on coordinate 0 and lose on 1; bob's the reverse."""
    pairs = [PreferencePair(f"p{i}", "a", "b", "", "t", user_id=u) for i, u in enumerate(users)]
    diff = torch.tensor([[1.0, -1.0] if u == "ann" else [-1.0, 1.0] for u in users])
    return pairs, PairTensors(chosen=diff, rejected=torch.zeros_like(diff), prompt=torch.zeros_like(diff))


def test_each_user_gets_the_head_chosen_on_their_validation_pairs():
    model = two_head_model()
    report = held_out_report(model, model, user_pairs(["ann", "bob", "ann"]), user_pairs(["ann", "bob", "bob", "bob"]))
    rows = {r["user"]: r for r in report["per_user"]}
    assert (rows["ann"]["head"], rows["bob"]["head"]) == (0, 1)
    assert (rows["ann"]["n_validation"], rows["ann"]["n_held_out"]) == (2, 1)
    assert (rows["bob"]["n_validation"], rows["bob"]["n_held_out"]) == (1, 3)
    assert rows["ann"]["best_head_accuracy"] == rows["bob"]["best_head_accuracy"] == 1.0
    assert report["per_user_best_head_accuracy"] == 1.0 and report["held_out_pairs"] == 4


def test_a_user_without_validation_pairs_has_no_head_and_no_score():
    model = two_head_model()
    report = held_out_report(model, model, user_pairs(["ann"]), user_pairs(["ann", "bob"]))
    bob = next(r for r in report["per_user"] if r["user"] == "bob")
    assert bob["head"] is None and bob["best_head_accuracy"] is None
    assert report["users_scored"] == 1
    assert any(line.lstrip().startswith("bob") and " - " in line for line in format_report(report, 2))


def test_data_without_users_prints_only_baseline_and_mixture():
    model = two_head_model()
    val, held = user_pairs(["ann"]), user_pairs(["bob"])
    strip = lambda part: ([PreferencePair(p.prompt, p.chosen, p.rejected, "", "t") for p in part[0]], part[1])
    report = held_out_report(model, model, strip(val), strip(held))
    assert report["per_user"] == [] and len(format_report(report, 2)) == 3


def random_tensors(n: int, seed: int) -> PairTensors:
    gen = torch.Generator().manual_seed(seed)
    return PairTensors(torch.randn(n, 4, generator=gen) + 0.5, torch.randn(n, 4, generator=gen), torch.randn(n, 4, generator=gen))


def test_refit_runs_the_number_of_steps_early_stopping_picked():
    data = random_tensors(40, 0)
    picked = FitResult(model=MixtureRewardModel(4, 2), val_nll=0.5, steps=30, restart=1)
    steps = []
    result = refit_on_all(data, FitConfig(num_heads=2), picked, on_step=lambda: steps.append(1))
    assert len(steps) == 30 and result.restart == 1 and 0 < result.steps <= 30


def test_a_fit_that_kept_no_step_is_refused():
    with pytest.raises(NoStepError, match="no optimisation step"):
        check_trained(FitResult(model=MixtureRewardModel(4, 2), val_nll=float("inf"), steps=0, restart=0))


def test_checkpoint_files_are_0644_and_new_directories_0755_whatever_the_umask(tmp_path):
    info = BackboneInfo(id="t", fingerprint="f", hidden_size=4, pooling="mean", max_length=8)
    config = CheckpointConfig(backbone=asdict(info), num_heads=2, dim=4)
    old = os.umask(0o077)
    try:
        save_checkpoint(tmp_path / "a" / "b", MixtureRewardModel(4, 2), config)
    finally:
        os.umask(old)
    for path, mode in ((tmp_path / "a", 0o755), (tmp_path / "a" / "b", 0o755),
                       (tmp_path / "a" / "b" / WEIGHTS_FILE, 0o644), (tmp_path / "a" / "b" / CONFIG_FILE, 0o644)):
        assert stat.S_IMODE(path.stat().st_mode) == mode, path


def test_the_table_names_the_served_heads_when_the_refit_swaps_them():
    held_fit = two_head_model()
    served = two_head_model()
    with torch.no_grad():
        served.heads.weight.copy_(torch.tensor([[0.0, 1.0], [1.0, 0.0]]))  # the refit's head 0 is the held-out fit's 1
    val = user_pairs(["ann", "bob"])
    report = held_out_report(held_fit, held_fit, val, user_pairs(["ann", "bob"]))
    name_served_heads(report, served, val)
    rows = {r["user"]: r for r in report["per_user"]}
    assert (rows["ann"]["head"], rows["ann"]["served_head"]) == (0, 1)
    assert (rows["bob"]["head"], rows["bob"]["served_head"]) == (1, 0)
    ann_line = next(line for line in format_report(report, 2) if line.lstrip().startswith("ann"))
    assert ann_line.split()[1] == "1"  # the number the served model card uses
    assert any("served head" in line for line in format_report(report, 2))


def advice_report(mixture: float, single: float, personal: float | None, users: str = "user_id") -> dict:
    return {"mixture_accuracy": mixture, "single_bt_accuracy": single, "per_user_best_head_accuracy": personal,
            "held_out_pairs": 90, "users": users}


def test_no_advice_when_the_mixture_beats_the_single_head():
    assert mixture_advice(advice_report(0.70, 0.66, 0.9), 10, grouped_by_user=True) == []
    assert mixture_advice(advice_report(0.50, 0.66, None), 1, grouped_by_user=False) == []  # K=1: nothing to compare


def test_advice_says_labels_first_when_users_own_heads_win():
    lines = mixture_advice(advice_report(0.544, 0.667, 1.0), 10, grouped_by_user=True)
    assert len(lines) == 1 and "0.544" in lines[0] and "0.667" in lines[0] and "labels" in lines[0]


def test_advice_suggests_grouping_by_user_when_the_file_names_users():
    lines = mixture_advice(advice_report(0.60, 0.70, 0.65), 10, grouped_by_user=False)
    assert lines[0].startswith("warning:") and "--group-by user" in lines[1]
    assert any("--heads 5" in line for line in lines)
    grouped = mixture_advice(advice_report(0.60, 0.70, 0.65), 10, grouped_by_user=True)
    assert not any("--group-by" in line for line in grouped)
