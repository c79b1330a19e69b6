"""Online routing update against hand-computed values (K=2)."""

import math

import torch

from model.routing import RoutingConfig, head_losses, hedge_target, update_offset

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
