"""Heads and router of MixtureRewardModel against hand-computed values (K=2, d=3)."""

import math

import torch

from model.heads import MixtureRewardModel, mixture_score, preference_probability, score_preference_probability


def tiny_model() -> MixtureRewardModel:
    model = MixtureRewardModel(dim=3, num_heads=2)
    with torch.no_grad():
        model.heads.weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
        model.router.weight.zero_()
        model.router.bias.copy_(torch.tensor([math.log(3.0), 0.0]))  # softmax -> 0.75, 0.25
    return model.requires_grad_(False)


def test_rewards_are_linear_heads_without_bias():
    r = tiny_model().rewards(torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]))
    assert torch.allclose(r, torch.tensor([[1.0, 2.0], [0.0, 0.0]]))


def test_router_weights_are_softmax_of_logits():
    _, w = tiny_model()(torch.zeros(1, 3), torch.zeros(1, 3))
    assert torch.allclose(w, torch.tensor([[0.75, 0.25]]), atol=1e-6)


def test_router_reads_the_prompt_embedding():
    model = tiny_model()
    with torch.no_grad():
        model.router.weight.copy_(torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]]))
    # logits = [ln 3, 0 + 1 * ln 3] -> equal weights
    w = model.log_weights(torch.tensor([[0.0, 0.0, math.log(3.0)]])).exp()
    assert torch.allclose(w, torch.tensor([[0.5, 0.5]]), atol=1e-6)


def test_the_router_may_read_another_width_than_the_heads():
    model = MixtureRewardModel(dim=3, num_heads=2, router_dim=1).requires_grad_(False)
    model.heads.weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    model.router.weight.copy_(torch.tensor([[1.0], [0.0]]))
    assert model.statement_router.weight.shape == (2, 1)
    r, w = model(torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([[math.log(3.0)]]))  # logits [ln 3, 0]
    assert torch.allclose(r, torch.tensor([[1.0, 2.0]])) and torch.allclose(w, torch.tensor([[0.75, 0.25]]), atol=1e-6)


def test_user_offset_shifts_logits():
    w = tiny_model().log_weights(torch.zeros(1, 3), offset=torch.tensor([-math.log(3.0), 0.0])).exp()
    assert torch.allclose(w, torch.tensor([[0.5, 0.5]]), atol=1e-6)


def test_mixture_score_and_pair_probability():
    model = tiny_model()
    r = model.rewards(torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]))
    w = torch.tensor([0.75, 0.25])
    assert torch.allclose(mixture_score(r, w), torch.tensor([1.25, 0.0]))
    # 0.75 * sigmoid(1) + 0.25 * sigmoid(2) = 0.548294 + 0.220200 = 0.768494
    assert abs(float(preference_probability(r[0], r[1], w)) - 0.768494) < 1e-5


def test_score_preference_probability_is_bradley_terry_on_the_mixture_scores():
    # s = (1.25, 0.0) as above: sigmoid(1.25) = 0.777300; swapped: 1 - 0.777300 = 0.222700
    s = torch.tensor([1.25, 0.0])
    assert abs(float(score_preference_probability(s[0], s[1])) - 0.777300) < 1e-5
    assert abs(float(score_preference_probability(s[1], s[0])) - 0.222700) < 1e-5


def test_static_mixture_router_ignores_prompt():
    model = MixtureRewardModel(dim=3, num_heads=2, router="none")
    assert not model.router.weight.requires_grad
    assert torch.allclose(model.log_weights(torch.randn(4, 3)).exp(), torch.full((4, 2), 0.5))


def test_prior_strength_scales_the_router_logits_and_not_the_users_offset():
    from model.heads import MixtureRewardModel
    from model.personal_scoring import base_weights

    model = MixtureRewardModel(2, 2)
    with torch.no_grad():
        model.router.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 0.0]]))
        model.router.bias.copy_(torch.tensor([0.5, -0.5]))
    p, u = torch.tensor([[2.0, 0.0]]), torch.tensor([0.0, 1.0])
    assert torch.allclose(model.router_logits(p, u), torch.tensor([[2.5, 0.5]]))
    model.prior_strength = 0.5
    assert torch.allclose(model.router_logits(p, u), torch.tensor([[1.25, 0.75]]))  # 0.5 * (2.5, -0.5) + u
    assert torch.allclose(base_weights(model, u), torch.softmax(torch.tensor([0.25, 0.75]), -1))
    model.prior_strength = 0.0
    assert torch.allclose(model.log_weights(p).exp(), torch.tensor([[0.5, 0.5]]))
