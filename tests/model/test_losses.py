"""Mixture Bradley-Terry loss against values worked out by hand (K=2)."""

import math

import torch

from model.losses import (
    entropy,
    group_responsibilities,
    grouped_mixture_bt_loss,
    head_log_likelihoods,
)


def singletons(r: torch.Tensor) -> torch.Tensor:
    """One group per pair: the grouped loss is then the paper's per-pair loss."""
    return torch.arange(r.shape[0])


def per_pair_loss(r_chosen: torch.Tensor, r_rejected: torch.Tensor, log_w: torch.Tensor, alpha: float):
    return grouped_mixture_bt_loss(r_chosen, r_rejected, singletons(r_chosen), log_w, alpha=alpha)


# One pair, two heads: head 0 prefers the chosen response by 1, head 1 is indifferent.
R_CHOSEN = torch.tensor([[1.0, 0.0]])
R_REJECTED = torch.tensor([[0.0, 0.0]])
LOG_W = torch.log(torch.tensor([[0.75, 0.25]]))
SIG1 = 0.7310585786300049  # sigmoid(1)


def test_head_log_likelihoods_are_log_sigmoid_of_margins():
    got = head_log_likelihoods(R_CHOSEN, R_REJECTED)
    assert torch.allclose(got, torch.tensor([[math.log(SIG1), math.log(0.5)]]), atol=1e-6)


def test_entropy_matches_hand_values():
    # w = (0.5, 0.25, 0.25): H = 0.5 ln 2 + 2 * 0.25 ln 4 = 0.346574 + 0.693147 = 1.039721
    # w = (0.75, 0.25, ~0): H = 0.215762 + 0.346574 = 0.562335 (a weight of 1e-30 adds about 7e-29)
    log_w = torch.log(torch.tensor([[0.5, 0.25, 0.25], [0.75, 0.25, 1e-30]]))
    assert torch.allclose(entropy(log_w), torch.tensor([1.039721, 0.562335]), atol=1e-5)


def test_mixture_nll_matches_hand_value():
    # mixture likelihood = 0.75 * 0.731059 + 0.25 * 0.5 = 0.673294 ; nll = -ln(0.673294) = 0.395573
    parts = per_pair_loss(R_CHOSEN, R_REJECTED, LOG_W, alpha=0.0)
    assert abs(float(parts.nll) - 0.395573) < 1e-5
    assert abs(float(parts.total) - 0.395573) < 1e-5


def test_entropy_regulariser_matches_hand_value():
    # sum w log w = 0.75 ln 0.75 + 0.25 ln 0.25 = -0.215762 - 0.346574 = -0.562335
    parts = per_pair_loss(R_CHOSEN, R_REJECTED, LOG_W, alpha=0.5)
    assert abs(float(parts.neg_entropy) + 0.562335) < 1e-5
    assert abs(float(parts.total) - (0.395573 - 0.5 * 0.562335)) < 1e-5


def test_loss_is_mean_over_pairs():
    two = per_pair_loss(R_CHOSEN.repeat(2, 1), R_REJECTED.repeat(2, 1), LOG_W.repeat(2, 1), alpha=0.5)
    one = per_pair_loss(R_CHOSEN, R_REJECTED, LOG_W, alpha=0.5)
    assert torch.allclose(two.total, one.total)


def test_responsibilities_are_posterior_over_heads():
    # 0.75*0.731059 : 0.25*0.5 = 0.548294 : 0.125 -> 0.814348, 0.185652
    got = group_responsibilities(R_CHOSEN, R_REJECTED, singletons(R_CHOSEN), LOG_W)
    assert torch.allclose(got, torch.tensor([[0.814348, 0.185652]]), atol=1e-5)


def test_loss_is_finite_for_extreme_margins():
    parts = per_pair_loss(torch.tensor([[-500.0, 500.0]]), torch.zeros(1, 2), LOG_W, alpha=0.5)
    assert torch.isfinite(parts.total)


def test_grouped_loss_with_singleton_groups_equals_per_pair_loss():
    r_c, r_r = torch.randn(5, 3), torch.randn(5, 3)
    log_w = torch.log_softmax(torch.randn(5, 3), dim=-1)
    grouped = grouped_mixture_bt_loss(r_c, r_r, torch.arange(5), log_w, alpha=0.5)
    plain = per_pair_loss(r_c, r_r, log_w, alpha=0.5)
    assert torch.allclose(grouped.total, plain.total, atol=1e-6)


def test_grouped_loss_multiplies_likelihoods_within_a_group():
    # one group of two pairs; head 0 margins (1, 1), head 1 margins (0, 0); w = (0.75, 0.25)
    # likelihood = 0.75 * 0.731059^2 + 0.25 * 0.5^2 = 0.400835 + 0.0625 = 0.463335
    # nll per pair = -ln(0.463335) / 2 = 0.384652
    r_c = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    parts = grouped_mixture_bt_loss(r_c, torch.zeros(2, 2), torch.tensor([0, 0]), LOG_W, alpha=0.0)
    assert abs(float(parts.nll) - 0.384652) < 1e-5


def test_grouped_loss_pair_weight_counts_a_pair_as_that_many_copies():
    # one group, one pair of weight 2 = one group holding the same pair twice:
    # head 0 margin 1, head 1 margin 0, w = (0.75, 0.25):
    # likelihood = 0.75 * 0.731059^2 + 0.25 * 0.5^2 = 0.463335; nll = -ln(0.463335) / 2 = 0.384652
    weighted = grouped_mixture_bt_loss(
        torch.tensor([[1.0, 0.0]]), torch.zeros(1, 2), torch.tensor([0]), LOG_W, alpha=0.0,
        pair_weight=torch.tensor([2.0]),
    )
    assert abs(float(weighted.nll) - 0.384652) < 1e-5
    r_c, r_r = torch.randn(4, 3), torch.randn(4, 3)
    log_w = torch.log_softmax(torch.randn(2, 3), dim=-1)
    group = torch.tensor([0, 0, 1, 1])
    ones = grouped_mixture_bt_loss(r_c, r_r, group, log_w, pair_weight=torch.ones(4))
    assert torch.allclose(ones.total, grouped_mixture_bt_loss(r_c, r_r, group, log_w).total)


def test_group_responsibilities_multiply_the_likelihoods_of_a_groups_pairs():
    # group 0: two pairs, margins (1, 0) each, weights 1/2, 1/2: sigmoid(1)^2 = 0.534447 vs 0.5^2 = 0.25
    #   -> 0.534447 / 0.784447 = 0.681304, 0.318696
    # group 1: one pair, margins (0, 2), weights 3/4, 1/4: 0.75 * 0.5 = 0.375 vs 0.25 * 0.880797 = 0.220199
    #   -> 0.630041, 0.369959
    r_chosen = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    group = torch.tensor([0, 0, 1])
    log_w = torch.tensor([[0.5, 0.5], [0.75, 0.25]]).log()
    got = group_responsibilities(r_chosen, torch.zeros(3, 2), group, log_w)
    assert torch.allclose(got, torch.tensor([[0.681304, 0.318696], [0.630041, 0.369959]]), atol=1e-5)
