"""One answer to "which response does this user prefer": for many random head rewards and
weights, the pair probability the service returns is over 1/2 exactly when the first response
ranks above the second, while the mixture likelihood it replaced does disagree on some of them."""

from __future__ import annotations

import torch

from model.heads import preference_probability
from model.personal_scoring import personal_scores

TRIALS = 2000


def random_pair(gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(2, K) head rewards on varied scales and (K,) weights on the simplex, K in 2..8."""
    k = int(torch.randint(2, 9, (1,), generator=gen))
    scale = float(torch.empty(1).uniform_(0.1, 5.0, generator=gen))
    rewards = torch.randn(2, k, generator=gen) * scale
    weights = torch.softmax(torch.randn(k, generator=gen) * 2.0, -1)
    return rewards, weights


def test_pair_probability_over_half_iff_the_first_ranks_first():
    gen = torch.Generator().manual_seed(17)
    for _ in range(TRIALS):
        rewards, weights = random_pair(gen)
        got = personal_scores(rewards, weights)
        assert (got.p_first_preferred > 0.5) == (got.ranking[0] == 0), (rewards, weights)
        assert (got.p_first_preferred > 0.5) == bool(got.scores[0] > got.scores[1])


def test_the_mixture_likelihood_alone_would_disagree_with_the_ranking_sometimes():
    gen = torch.Generator().manual_seed(17)
    disagreements = 0
    for _ in range(TRIALS):
        rewards, weights = random_pair(gen)
        got = personal_scores(rewards, weights)
        mixture = float(preference_probability(rewards[0], rewards[1], weights))
        disagreements += (mixture > 0.5) != (got.ranking[0] == 0)
    assert disagreements > 0  # why the service does not return it as the pair probability
