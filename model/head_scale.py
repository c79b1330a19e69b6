"""Heads on one scale: each learned head's rewards multiplied by c_k so that its reward differences on
the training pairs have the same spread as every other head's. Pure torch, no I/O.

The served score is ``sum_k w_k r_k``. Stage 1's mixture likelihood leaves each head at its own scale (a
head that separates its own users' pairs confidently has wide differences), so a head with differences
nine times wider outweighs the rest even at a small weight. With

    sigma_k = std_n d_nk            d_nk = r_k(chosen_n) - r_k(rejected_n) over N pairs
    c_k     = gmean_j(sigma_j) / sigma_k

every head's differences have the spread gmean(sigma) (the geometric mean keeps the overall magnitude,
so the online update's temperature stays in the same range). Each head ranks responses exactly as
before; only how the mixture and the per-head losses weigh them changes. A frozen expert head (the last
column when ``model.expert``) reads a reward model's own score and keeps c = 1.
"""

from __future__ import annotations

import torch

from model.heads import MixtureRewardModel


def equal_spread_factors(diff: torch.Tensor, learned: int | None = None) -> torch.Tensor:
    """(N, K) reward differences -> (K,) factors c_k = gmean(sigma) / sigma_k over the first ``learned``
    columns (default all); the rest get 1. A column with no spread (sigma 0) keeps 1."""
    k = diff.shape[1] if learned is None else learned
    sigma = diff[:, :k].std(dim=0, unbiased=False)
    ok = sigma > 0
    factors = torch.ones(diff.shape[1], dtype=diff.dtype)
    if ok.any():
        gmean = sigma[ok].log().mean().exp()
        factors[:k][ok] = gmean / sigma[ok]
    return factors


@torch.no_grad()
def rescale_heads(model: MixtureRewardModel, factors: torch.Tensor) -> None:
    """Multiply each learned head's row of H by its factor, in place: r_k -> c_k r_k."""
    learned = model.heads.weight.shape[0]
    model.heads.weight.mul_(factors[:learned, None].to(model.heads.weight.dtype))
