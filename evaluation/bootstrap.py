"""95 % bootstrap intervals over prompts: a prompt's pairs (every user type's, on DSP) are
resampled together, so pairs that share a prompt never count as independent evidence.

The statistic is the mean over user types of each type's mean score on the resampled prompts
(the headline "mean over types"), or one type's mean when only one type is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

DRAWS = 1000  # bootstrap resamples: the 2.5 / 97.5 percentiles move by < 0.002 beyond this


@dataclass(frozen=True)
class Interval:
    value: float  # the statistic on the data as it is
    low: float  # 2.5th percentile over resamples
    high: float  # 97.5th percentile

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


def prompt_bootstrap(
    values: torch.Tensor, prompts: Sequence[str], groups: Sequence[str], draws: int = DRAWS, seed: int = 0
) -> Interval:
    """(N,) per-pair scores (1/0 correctness, or a mean over simulated users), the prompt and
    the group (user type) of each pair -> mean over groups of the group means, with a 95 %
    interval from resampling prompts with replacement."""
    prompt_ids = _dense(prompts)
    group_ids = _dense(groups)
    p, g = int(prompt_ids.max()) + 1, int(group_ids.max()) + 1
    sums = torch.zeros(p, g, dtype=torch.float64)
    counts = torch.zeros(p, g, dtype=torch.float64)
    sums.index_put_((prompt_ids, group_ids), values.double(), accumulate=True)
    counts.index_put_((prompt_ids, group_ids), torch.ones(len(values), dtype=torch.float64), accumulate=True)
    gen = torch.Generator().manual_seed(seed)
    picks = torch.randint(0, p, (draws, p), generator=gen)
    weights = torch.zeros(draws, p, dtype=torch.float64).scatter_add_(1, picks, torch.ones(draws, p, dtype=torch.float64))
    stats = _statistic(weights @ sums, weights @ counts)  # (draws,)
    value = float(_statistic(sums.sum(0, keepdim=True), counts.sum(0, keepdim=True))[0])
    low, high = torch.quantile(stats, torch.tensor([0.025, 0.975], dtype=torch.float64)).tolist()
    return Interval(value, low, high)


def _statistic(sums: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """(B, G) sums and counts -> (B,) mean over groups of the group means (a group absent from
    a resample is left out of that resample's mean)."""
    present = counts > 0
    means = torch.where(present, sums / counts.clamp_min(1), torch.zeros_like(sums))
    return means.sum(1) / present.sum(1).clamp_min(1)


def _dense(names: Sequence[str]) -> torch.Tensor:
    index: dict[str, int] = {}
    return torch.tensor([index.setdefault(n, len(index)) for n in names], dtype=torch.long)
