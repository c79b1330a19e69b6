"""Offline accuracy measures on embedded preference pairs. Pure torch; user types are used
here for *evaluation only* (never by the fitting code).

Shapes: N pairs, K heads.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from model.fitting import PairTensors
from model.heads import MixtureRewardModel, preference_probability


@torch.no_grad()
def head_correct(model: MixtureRewardModel, data: PairTensors) -> torch.Tensor:
    """(N, K) bool: head k ranks the chosen response above the rejected one."""
    return (model.rewards(data.chosen) - model.rewards(data.rejected)) > 0


def pair_correct(r_chosen: torch.Tensor, r_rejected: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """(N, K) rewards, (N, K) or (K,) weights -> (N,) bool: P(chosen > rejected) > 1/2."""
    return preference_probability(r_chosen, r_rejected, weights) > 0.5


@torch.no_grad()
def mixture_correct(model: MixtureRewardModel, data: PairTensors, offset: torch.Tensor | None = None) -> torch.Tensor:
    """(N,) bool: the mixture with the router's weights w(prompt) (+ offset) prefers the chosen response."""
    w = model.log_weights(data.prompt, offset).exp()  # (N, K)
    return pair_correct(model.rewards(data.chosen), model.rewards(data.rejected), w)


def rows_of(groups: Sequence[str]) -> dict[str, torch.Tensor]:
    """Group name -> (N,) bool mask of its rows, names sorted."""
    return {g: torch.tensor([t == g for t in groups]) for g in sorted(set(groups))}


def mean_by_type(correct: torch.Tensor, user_types: Sequence[str]) -> dict[str, torch.Tensor]:
    """Mean of ``correct`` (N,) or (N, K) over each user type's rows: () or (K,) per type."""
    return {u: correct[mask].float().mean(0) for u, mask in rows_of(user_types).items()}


def best_head(correct: torch.Tensor) -> tuple[int, float]:
    """(N, K) bool -> (index, accuracy) of the head that is right most often (first on ties)."""
    accuracy = correct.float().mean(0)  # (K,)
    return int(accuracy.argmax()), float(accuracy.max())


def best_head_by_group(correct: torch.Tensor, groups: Sequence[str]) -> dict[str, tuple[int, float]]:
    """(N, K) bool, a group name per row -> for each group, :func:`best_head` on its rows."""
    return {g: best_head(correct[mask]) for g, mask in rows_of(groups).items()}


def best_head_by_type(
    model: MixtureRewardModel, data: PairTensors, user_types: Sequence[str]
) -> dict[str, tuple[int, float]]:
    """For each user type: (index, accuracy) of the head that fits it best (the stage-1 oracle)."""
    return best_head_by_group(head_correct(model, data), user_types)


def best_head_accuracy(model: MixtureRewardModel, data: PairTensors, user_types: Sequence[str]) -> dict[str, float]:
    """For each user type: the accuracy of its best head (the ceiling of personalisation)."""
    return {u: accuracy for u, (_, accuracy) in best_head_by_type(model, data, user_types).items()}
