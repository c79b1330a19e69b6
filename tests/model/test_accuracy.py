"""Offline accuracy measures against values worked out by hand (K=2 or 3)."""

import torch

from model.fitting import PairTensors
from model.heads import MixtureRewardModel
from model.accuracy import (
    best_head,
    best_head_accuracy,
    best_head_by_group,
    best_head_by_type,
    mean_by_type,
    mixture_correct,
    pair_correct,
)


def test_pair_correct_thresholds_the_mixture_probability():
    # w = (0.75, 0.25); margins (1, -2): P = 0.75 sigmoid(1) + 0.25 sigmoid(-2) = 0.578095 > 1/2
    #                   margins (-1, 2): P = 0.75 sigmoid(-1) + 0.25 sigmoid(2) = 0.421905 < 1/2
    r_chosen = torch.tensor([[1.0, -2.0], [-1.0, 2.0]])
    got = pair_correct(r_chosen, torch.zeros(2, 2), torch.tensor([0.75, 0.25]))
    assert got.tolist() == [True, False]


def test_best_head_takes_the_most_accurate_head_and_the_first_on_ties():
    # column means (0.5, 0.75, 0.75): head 1 (first of the tie), accuracy 0.75
    correct = torch.tensor([[1, 1, 1], [1, 1, 1], [0, 1, 1], [0, 0, 0]], dtype=torch.bool)
    assert best_head(correct) == (1, 0.75)


def test_best_head_by_group_selects_per_group():
    # group a (rows 0, 1): head means (1.0, 0.5, 0.0) -> head 0
    # group b (rows 2-4):  head means (1/3, 1/3, 1.0) -> head 2
    correct = torch.tensor([[1, 1, 0], [1, 0, 0], [0, 1, 1], [1, 0, 1], [0, 0, 1]], dtype=torch.bool)
    got = best_head_by_group(correct, ["a", "a", "b", "b", "b"])
    assert list(got) == ["a", "b"]
    assert got["a"] == (0, 1.0) and got["b"] == (2, 1.0)


def test_mean_by_type_averages_each_types_rows():
    correct = torch.tensor([[1, 0], [0, 0], [1, 1]], dtype=torch.bool)
    got = mean_by_type(correct, ["y", "y", "x"])
    assert torch.equal(got["x"], torch.tensor([1.0, 1.0])) and torch.equal(got["y"], torch.tensor([0.5, 0.0]))


def two_types() -> tuple[MixtureRewardModel, PairTensors, list[str]]:
    """Heads read one feature each; type A's labels follow feature 0, type B's feature 1."""
    model = MixtureRewardModel(dim=2, num_heads=2)
    with torch.no_grad():
        model.heads.weight.copy_(torch.eye(2))
    chosen = torch.tensor([[1.0, -1.0], [1.0, 1.0], [-1.0, 1.0], [1.0, 1.0]])
    # A: head 0 right on both, head 1 right on one; B: head 1 right on both, head 0 on one
    data = PairTensors(chosen, torch.zeros(4, 2), torch.zeros(4, 2))
    return model.requires_grad_(False), data, ["A", "A", "B", "B"]


def test_best_head_by_type_reads_each_heads_pair_accuracy():
    model, data, types = two_types()
    assert best_head_by_type(model, data, types) == {"A": (0, 1.0), "B": (1, 1.0)}
    assert best_head_accuracy(model, data, types) == {"A": 1.0, "B": 1.0}


def test_mixture_correct_uses_the_router_weights():
    # zero router -> w = (0.5, 0.5); margins (1, -1) give P = 0.5 (not > 1/2), (1, 1) give 0.731
    model, data, _ = two_types()
    assert mixture_correct(model, data).tolist() == [False, True, False, True]
