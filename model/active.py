"""Active query selection: which pair should this user label next?

For each candidate pair (a, b) with head rewards r_a, r_b (C, K) and the prompt's prior logits
(C, K), the user's current weights w = softmax(prior + u) give

    p   = P(a > b) = sum_k w_k sigmoid(r_k(a) - r_k(b))
    w_a = weights after the routing update for "a > b",  w_b = after "b > a"
    expected entropy after the label = p H(w_a) + (1 - p) H(w_b)

and we ask the pair with the largest expected drop of the weights' entropy (the label expected
to teach the most about which heads this user follows). It runs the same
:func:`model.routing.update_offset` as the service, batched over candidates. Pure torch.
"""

from __future__ import annotations

import torch

from model.heads import preference_probability
from model.losses import entropy
from model.routing import RoutingConfig, update_offset


def expected_information_gain(
    offset: torch.Tensor, prior_logits: torch.Tensor, r_a: torch.Tensor, r_b: torch.Tensor, cfg: RoutingConfig
) -> torch.Tensor:
    """(K,) offset, (C, K) prior logits and rewards -> (C,) expected entropy reduction."""
    u = offset.expand_as(prior_logits)
    log_w = torch.log_softmax(prior_logits + u, -1)
    p_a = preference_probability(r_a, r_b, log_w.exp()).clamp(0.0, 1.0)  # (C,)
    after_a = torch.log_softmax(prior_logits + update_offset(u, prior_logits, r_a, r_b, cfg), -1)
    after_b = torch.log_softmax(prior_logits + update_offset(u, prior_logits, r_b, r_a, cfg), -1)
    expected = p_a * entropy(after_a) + (1 - p_a) * entropy(after_b)
    return entropy(log_w) - expected


def best_query(
    offset: torch.Tensor, prior_logits: torch.Tensor, r_a: torch.Tensor, r_b: torch.Tensor, cfg: RoutingConfig
) -> tuple[int, torch.Tensor]:
    """Index of the candidate to ask next, and every candidate's expected gain (C,)."""
    gain = expected_information_gain(offset, prior_logits, r_a, r_b, cfg)
    return int(gain.argmax()), gain
