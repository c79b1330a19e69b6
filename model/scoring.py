"""Offline accuracy measures on embedded preference pairs. Pure torch; user types are used
here for *evaluation only* (never by the fitting code)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from model.fitting import PairTensors
from model.heads import MixtureRewardModel


@torch.no_grad()
def head_correct(model: MixtureRewardModel, data: PairTensors) -> torch.Tensor:
    """(N, K) bool: head k ranks the chosen response above the rejected one."""
    return (model.rewards(data.chosen) - model.rewards(data.rejected)) > 0


@torch.no_grad()
def mixture_correct(model: MixtureRewardModel, data: PairTensors, offset: torch.Tensor | None = None) -> torch.Tensor:
    """(N,) bool: P(chosen > rejected) = sum_k w_k(prompt) sigmoid(diff_k) > 1/2."""
    w = model.log_weights(data.prompt, offset).exp()
    p = (w * torch.sigmoid(model.rewards(data.chosen) - model.rewards(data.rejected))).sum(-1)
    return p > 0.5


def mean_by_type(correct: torch.Tensor, user_types: Sequence[str]) -> dict[str, torch.Tensor]:
    """Mean of ``correct`` (N,) or (N, K) over each user type's rows."""
    out = {}
    for u in sorted(set(user_types)):
        mask = torch.tensor([t == u for t in user_types])
        out[u] = correct[mask].float().mean(0)
    return out


def best_head_by_type(model: MixtureRewardModel, data: PairTensors, user_types: Sequence[str]) -> dict[str, tuple[int, float]]:
    """For each user type: (index, accuracy) of the head that fits it best (the stage-1 oracle)."""
    per_type = mean_by_type(head_correct(model, data), user_types)
    return {u: (int(acc.argmax()), float(acc.max())) for u, acc in per_type.items()}
