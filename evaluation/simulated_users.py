"""Simulated users for the online routing update: a fresh user posts n labels, then we measure
pairwise accuracy of their personalised mixture on held-out pairs of their type. Calls the very
same :func:`model.routing.update_offset` the service uses. Pure torch, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from model.active import best_query
from model.fitting import PairTensors
from model.heads import MixtureRewardModel
from model.routing import RoutingConfig, update_offset
from model.accuracy import pair_correct
from model.training_set import TrainingSet


@dataclass
class ScoredPairs:
    """Everything the routing update and the evaluation need, precomputed once."""

    r_chosen: torch.Tensor  # (N, K)
    r_rejected: torch.Tensor  # (N, K)
    prior_logits: torch.Tensor  # (N, K) router logits for each pair's prompt

    @classmethod
    @torch.no_grad()
    def of(cls, model: MixtureRewardModel, data: PairTensors) -> ScoredPairs:
        return cls(model.rewards(data.chosen), model.rewards(data.rejected), model.router_logits(data.prompt))

    def __len__(self) -> int:
        return self.r_chosen.shape[0]


def accuracy_with_offset(pairs: ScoredPairs, offset: torch.Tensor) -> float:
    """Pairwise accuracy of sum_k w_k sigmoid(diff_k) > 1/2 with w = softmax(prior + offset)."""
    w = torch.softmax(pairs.prior_logits + offset, dim=-1)  # (N, K)
    return float(pair_correct(pairs.r_chosen, pairs.r_rejected, w).float().mean())


# picks which of the remaining label indices the user is asked next: (offset (K,), remaining) -> position
Chooser = Callable[[torch.Tensor, list[int]], int]


def simulate(
    labels: ScoredPairs,
    evaluation: ScoredPairs,
    cfg: RoutingConfig,
    checkpoints: Sequence[int],
    orders: int,
    seed: int,
    pool: int,
    choose: Chooser,
) -> torch.Tensor:
    """(orders, len(checkpoints)) accuracy after n labels; each order a fresh user whose labels
    come from a random pool of ``pool`` pairs of ``labels``, asked in the order ``choose`` picks."""
    gen = torch.Generator().manual_seed(seed)
    out = torch.zeros(orders, len(checkpoints))
    for o in range(orders):
        remaining = torch.randperm(len(labels), generator=gen)[:pool].tolist()
        offset, applied = torch.zeros(labels.r_chosen.shape[1]), 0
        for j, n in enumerate(checkpoints):
            while applied < n and remaining:
                i = remaining.pop(choose(offset, remaining))
                offset = update_offset(offset, labels.prior_logits[i], labels.r_chosen[i], labels.r_rejected[i], cfg)
                applied += 1
            out[o, j] = accuracy_with_offset(evaluation, offset)
    return out


def learning_curve(
    labels: ScoredPairs, evaluation: ScoredPairs, cfg: RoutingConfig, checkpoints: Sequence[int], orders: int = 10,
    seed: int = 0,
) -> torch.Tensor:
    """(orders, len(checkpoints)) accuracy after n labels, each order a fresh user drawing labels
    at random (without replacement) from ``labels``."""
    return simulate(labels, evaluation, cfg, checkpoints, orders, seed, len(labels), lambda offset, remaining: 0)


def active_curve(
    labels: ScoredPairs, evaluation: ScoredPairs, cfg: RoutingConfig, checkpoints: Sequence[int], orders: int = 10,
    pool: int = 200, seed: int = 0,
) -> torch.Tensor:
    """Like :func:`learning_curve`, but each label is the pair of a random candidate pool of
    ``pool`` pairs with the largest expected information gain (:mod:`model.active`); the
    simulated user then answers with the true label."""

    def most_informative(offset: torch.Tensor, remaining: list[int]) -> int:
        idx = torch.tensor(remaining)
        return best_query(offset, labels.prior_logits[idx], labels.r_chosen[idx], labels.r_rejected[idx], cfg)[0]

    return simulate(labels, evaluation, cfg, checkpoints, orders, seed, pool, most_informative)


def labels_to_reach(curve: torch.Tensor, checkpoints: Sequence[int], target: float) -> int | None:
    """First n (of ``checkpoints``) where the mean curve reaches ``target``; None if never."""
    mean = curve.mean(0)
    for n, value in zip(checkpoints, mean.tolist()):
        if value >= target:
            return n
    return None


def by_type(model: MixtureRewardModel, data: TrainingSet) -> dict[str, ScoredPairs]:
    """The pairs of each user type (or user id), scored by every head: one simulated user's pool each."""
    out = {}
    for u in sorted(set(data.user_types)):
        idx = torch.tensor([i for i, t in enumerate(data.user_types) if t == u])
        out[u] = ScoredPairs.of(model, data.tensors.subset(idx))
    return out
