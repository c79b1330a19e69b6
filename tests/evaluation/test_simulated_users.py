"""Learning-curve logic on a tiny planted problem where the right answer is known:
two heads, the simulated users follow head 0."""

import torch

from evaluation.simulated_users import ScoredPairs, accuracy_with_offset, active_curve, labels_to_reach, learning_curve
from model.routing import RoutingConfig

CFG = RoutingConfig(tau=1.0, eta=2.0, mode="mirror")


def planted(n: int, seed: int) -> ScoredPairs:
    """Head 0 always agrees with the user's label (margin 2); head 1 agrees half the time."""
    gen = torch.Generator().manual_seed(seed)
    head1 = torch.where(torch.rand(n, generator=gen) < 0.5, 2.0, -2.0)
    r_chosen = torch.stack([torch.full((n,), 2.0), head1], dim=1)
    return ScoredPairs(r_chosen=r_chosen, r_rejected=torch.zeros(n, 2), prior_logits=torch.zeros(n, 2))


def test_prior_accuracy_is_the_even_mixture():
    # with w = (0.5, 0.5): pairs where head 1 agrees -> p = sigmoid(2) > 0.5; disagrees -> p = 0.5 (not > 0.5)
    pairs = planted(400, seed=1)
    expected = float((pairs.r_chosen[:, 1] > 0).float().mean())
    assert abs(accuracy_with_offset(pairs, torch.zeros(2)) - expected) < 1e-6


def test_curve_climbs_to_the_planted_head():
    curve = learning_curve(planted(200, 0), planted(400, 1), CFG, [0, 1, 5, 20], orders=5)
    mean = curve.mean(0)
    assert curve.shape == (5, 4)
    assert float(mean[0]) < 0.6 and float(mean[3]) == 1.0
    assert float(mean[3]) >= float(mean[1])


def test_labels_to_reach_reads_the_mean_curve():
    curve = torch.tensor([[0.5, 0.7, 0.95], [0.5, 0.8, 0.85]])
    assert labels_to_reach(curve, [0, 1, 2], 0.75) == 1
    assert labels_to_reach(curve, [0, 1, 2], 0.89) == 2
    assert labels_to_reach(curve, [0, 1, 2], 0.99) is None


def test_active_choice_learns_at_least_as_fast_as_random_order():
    labels, evaluation = planted(200, 0), planted(400, 1)
    random_order = learning_curve(labels, evaluation, CFG, [0, 1, 2, 3], orders=8)
    active = active_curve(labels, evaluation, CFG, [0, 1, 2, 3], orders=8, pool=50)
    assert float(active.mean(0)[1]) >= float(random_order.mean(0)[1])
    assert float(active.mean(0)[3]) == 1.0
