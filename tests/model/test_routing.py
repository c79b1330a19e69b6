"""Online routing update against hand-computed values (K=2); every routing and checkpoint
number is checked at load, and a non-finite step never reaches an offset."""

import json
import math

import pytest
import torch
from safetensors.torch import load_file, save_file

from model.checkpoint import CheckpointError, load_checkpoint, read_config
from model.routing import RoutingConfig, head_losses, hedge_target, update_offset
from tests.helpers import make_tiny_checkpoint

# Head 0 agrees with the label by a margin of 2, head 1 is indifferent.
R_W = torch.tensor([2.0, 0.0])
R_L = torch.tensor([0.0, 0.0])
L0 = 0.126928  # -ln sigmoid(2)
L1 = 0.693147  # -ln sigmoid(0) = ln 2


def test_head_losses_are_negative_log_sigmoid():
    assert torch.allclose(head_losses(R_W, R_L), torch.tensor([L0, L1]), atol=1e-6)


def test_hedge_target_hand_value():
    # f ∝ 0.5 e^-0.126928 : 0.5 e^-0.693147 = 0.440399 : 0.25 -> 0.637892, 0.362108
    f = hedge_target(torch.log(torch.tensor([0.5, 0.5])), torch.tensor([L0, L1]), tau=1.0)
    assert torch.allclose(f, torch.tensor([0.637892, 0.362108]), atol=1e-5)


def test_hedge_target_temperature_sharpens():
    # tau = 0.5 doubles the loss gap: f ∝ e^-0.253856 : e^-1.386294 -> 0.756289, 0.243711
    f = hedge_target(torch.log(torch.tensor([0.5, 0.5])), torch.tensor([L0, L1]), tau=0.5)
    assert torch.allclose(f, torch.tensor([0.756289, 0.243711]), atol=1e-5)


def test_hedge_target_survives_huge_losses():
    f = hedge_target(torch.log(torch.tensor([0.5, 0.5])), torch.tensor([1e4, 1e4 + 1.0]), tau=0.01)
    assert torch.isfinite(f).all() and abs(float(f.sum()) - 1.0) < 1e-6


def test_mirror_step_moves_offset_toward_target():
    # u = 0 - 1.0 * (w - f) = -(0.5 - 0.637892, 0.5 - 0.362108) = (0.137892, -0.137892)
    u = update_offset(torch.zeros(2), torch.zeros(2), R_W, R_L, RoutingConfig(tau=1.0, eta=1.0, mode="mirror"))
    assert torch.allclose(u, torch.tensor([0.137892, -0.137892]), atol=1e-5)


def test_mirror_step_uses_prior_logits():
    # prior logits (ln 3, 0) -> w = (0.75, 0.25); f ∝ 0.75*0.880797 : 0.25*0.5 = 0.548294 : 0.125
    # f = (0.840886, 0.159114); u = -(0.75 - 0.840886, 0.25 - 0.159114) = (0.090886, -0.090886)
    prior = torch.tensor([math.log(3.0), 0.0])
    u = update_offset(torch.zeros(2), prior, R_W, R_L, RoutingConfig(tau=1.0, eta=1.0))
    assert torch.allclose(u, torch.tensor([0.090886, -0.090886]), atol=1e-5)


def test_hedge_mode_is_exact_bayesian_reweighting():
    # u = -(L0, L1) / tau, centred: -(0.126928 - 0.410038, 0.693147 - 0.410038) = (0.283110, -0.283110)
    u = update_offset(torch.zeros(2), torch.zeros(2), R_W, R_L, RoutingConfig(tau=1.0, mode="hedge"))
    assert torch.allclose(u, torch.tensor([0.283110, -0.283110]), atol=1e-5)
    w = torch.softmax(u, dim=0)
    expected = torch.softmax(-torch.tensor([L0, L1]), dim=0)
    assert torch.allclose(w, expected, atol=1e-6)


def test_offset_stays_bounded_under_a_long_one_sided_stream():
    cfg = RoutingConfig(tau=0.01, eta=1.0, mode="hedge", max_abs_offset=30.0)
    u = torch.zeros(2)
    for _ in range(1000):
        u = update_offset(u, torch.zeros(2), torch.tensor([50.0, -50.0]), torch.zeros(2), cfg)
    assert torch.isfinite(u).all() and float(u.abs().max()) <= 30.0


@pytest.mark.parametrize("field, value", [("tau", 0.0), ("tau", -1.0), ("tau", math.nan), ("eta", math.inf),
                                          ("eta", 0.0), ("max_abs_offset", 0.0), ("max_abs_offset", math.nan),
                                          ("context_strength", -1.0), ("context_strength", math.inf),
                                          ("prior_strength", -0.5), ("prior_strength", math.nan),
                                          ("tau", "1"), ("mode", "greedy"), ("active_criterion", "random"),
                                          ("active_criterion", "bald")])
def test_routing_config_refuses_a_number_out_of_range_naming_it(field: str, value: object):
    with pytest.raises(ValueError, match=field):
        RoutingConfig(**{field: value})


def test_a_non_finite_step_leaves_the_offset_unchanged():
    u = torch.tensor([0.5, -0.5])
    cfg = RoutingConfig(tau=1e-300, mode="hedge")
    new = update_offset(u, torch.zeros(2), torch.tensor([1e10, 0.0]), torch.tensor([0.0, 1e10]), cfg)
    assert torch.isfinite(new).all() and torch.allclose(new, u)


def test_a_batched_non_finite_step_only_freezes_its_own_row():
    u = torch.zeros(2, 2)
    r_w, r_l = torch.tensor([[math.nan, 0.0], [2.0, 0.0]]), torch.zeros(2, 2)
    new = update_offset(u, torch.zeros(2), r_w, r_l, RoutingConfig(tau=1.0, eta=1.0))
    assert torch.equal(new[0], u[0]) and not torch.equal(new[1], u[1])


@pytest.mark.parametrize("routing", [{"tau": float("nan")}, {"eta": -1.0}, {"max_abs_offset": float("inf")},
                                     {"active_criterion": "random"}])
def test_a_checkpoint_with_a_bad_routing_number_is_refused_at_load(tmp_path, routing: dict):
    directory = make_tiny_checkpoint(tmp_path / "ckpt")
    config = json.loads((directory / "config.json").read_text())
    config["routing"].update(routing)
    (directory / "config.json").write_text(json.dumps(config))  # NaN / Infinity: what json writes
    with pytest.raises(CheckpointError, match=next(iter(routing))):
        read_config(directory)


def test_the_next_query_criterion_is_read_from_the_checkpoint_and_older_ones_keep_entropy(tmp_path):
    directory = make_tiny_checkpoint(tmp_path / "ckpt")
    config = json.loads((directory / "config.json").read_text())
    config["routing"].pop("active_criterion", None)  # a checkpoint written before the key existed
    (directory / "config.json").write_text(json.dumps(config))
    assert read_config(directory).routing_config().active_criterion == "entropy"
    config["routing"]["active_criterion"] = "information"
    (directory / "config.json").write_text(json.dumps(config))
    assert read_config(directory).routing_config().active_criterion == "information"


def test_a_checkpoint_with_non_finite_weights_is_refused_at_load(tmp_path):
    directory = make_tiny_checkpoint(tmp_path / "ckpt")
    tensors = load_file(str(directory / "heads.safetensors"))
    tensors["router.bias"][0] = math.inf
    save_file(tensors, str(directory / "heads.safetensors"))
    with pytest.raises(CheckpointError, match="router.bias"):
        load_checkpoint(directory)
