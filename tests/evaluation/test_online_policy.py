"""Simulated users with per-pair outcomes on a planted problem (users follow head 0): the uniform
prior, equal candidate pools across active criteria, and the policy choice on validation."""

import pytest
import torch

from evaluation.online_policy import OnlinePolicy, choose_policy, simulate_outcomes, with_prior
from evaluation.simulated_users import ScoredPairs, accuracy_with_offset
from model.routing import RoutingConfig


def planted(n: int, seed: int, prior: float = 0.0) -> ScoredPairs:
    gen = torch.Generator().manual_seed(seed)
    head1 = torch.where(torch.rand(n, generator=gen) < 0.5, 2.0, -2.0)
    r_chosen = torch.stack([torch.full((n,), 2.0), head1], dim=1)
    logits = torch.tensor([0.0, prior]).expand(n, 2).clone()  # prior > 0 leans towards the wrong head
    return ScoredPairs(r_chosen=r_chosen, r_rejected=torch.zeros(n, 2), prior_logits=logits)


GOOD = OnlinePolicy(RoutingConfig(tau=1.0, eta=2.0))


def test_uniform_prior_drops_the_router_logits():
    pairs = planted(10, 0, prior=3.0)
    assert torch.equal(with_prior(pairs, "uniform").prior_logits, torch.zeros(10, 2))
    assert with_prior(pairs, "router") is pairs


def test_outcomes_before_any_label_are_the_prior_accuracy_per_pair():
    labels, evaluation = planted(50, 0), planted(80, 1)
    out = simulate_outcomes(labels, evaluation, GOOD, [0, 10], orders=3)
    assert out.shape == (3, 2, 80)
    assert abs(float(out[0, 0].mean()) - accuracy_with_offset(evaluation, torch.zeros(2))) < 1e-6
    assert float(out[:, 1].mean()) == 1.0  # ten labels find head 0


def test_active_criteria_start_from_the_same_pools():
    labels, evaluation = planted(300, 0), planted(80, 1)
    runs = [simulate_outcomes(labels, evaluation, GOOD, [0, 3], orders=4, pool=20, active=c)
            for c in ("random", "entropy", "information")]
    assert all(torch.equal(runs[0][:, 0], r[:, 0]) for r in runs)
    assert all(float(r[:, 1].mean()) >= float(runs[0][:, 0].mean()) for r in runs)


def test_policy_choice_prefers_the_prior_that_does_not_mislead():
    fit = {"u": planted(100, 0, prior=4.0)}
    val = {"u": planted(100, 1, prior=4.0)}
    slow = RoutingConfig(tau=2.0, eta=0.5)
    grid = [OnlinePolicy(slow, "router"), OnlinePolicy(slow, "uniform")]
    best, table = choose_policy(fit, val, grid, [1, 2], orders=3)
    assert best.prior == "uniform" and table[best] == max(table.values())


def test_prior_names_and_strengths_are_one_setting():
    from evaluation.online_policy import prior_name, prior_strength

    for name, strength in (("router", 1.0), ("uniform", 0.0), ("router x0.5", 0.5)):
        assert prior_strength(name) == strength and prior_name(strength) == name
    pairs = planted(4, 0, prior=3.0)
    assert torch.allclose(with_prior(pairs, "router x0.5").prior_logits, 0.5 * pairs.prior_logits)
    with pytest.raises(ValueError):
        prior_strength("gaussian")
