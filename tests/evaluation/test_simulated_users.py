"""Learning-curve logic on a tiny planted problem where the right answer is known:
two heads, the simulated users follow head 0."""

import torch

from evaluation.simulated_users import (
    ScoredPairs,
    accuracy_with_offset,
    active_curve,
    labels_to_reach,
    learning_curve,
    simulate,
)
from model.routing import RoutingConfig, update_offset

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


def test_random_order_applies_the_generators_permutation_in_turn():
    # one user, 3 labels: the offset must be the routing update applied along randperm(seed 0)
    labels, evaluation = planted(20, 2), planted(50, 3)
    perm = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))[:3].tolist()
    offset = torch.zeros(2)
    for i in perm:
        offset = update_offset(offset, labels.prior_logits[i], labels.r_chosen[i], labels.r_rejected[i], CFG)
    curve = learning_curve(labels, evaluation, CFG, [3], orders=1, seed=0)
    assert float(curve[0, 0]) == accuracy_with_offset(evaluation, offset)


def test_simulate_asks_the_pair_the_chooser_picks_from_the_pool():
    # a chooser that always asks the last remaining pair of a pool of 2: both labels get used
    labels, evaluation = planted(10, 4), planted(50, 5)
    asked: list[list[int]] = []

    def last(offset: torch.Tensor, remaining: list[int]) -> int:
        asked.append(list(remaining))
        return len(remaining) - 1

    simulate(labels, evaluation, CFG, [5], orders=1, seed=0, pool=2, choose=last)
    assert len(asked) == 2 and len(asked[0]) == 2 and asked[1] == asked[0][:1]
