"""Active query selection: which pair should this user label next?

For each candidate pair (a, b) with head rewards r_a, r_b (C, K) and the prompt's prior logits
(C, K), the user's current weights w = softmax(prior + u) give

    p   = P(a > b) = sum_k w_k sigmoid(r_k(a) - r_k(b))
    w_a = weights after the routing update for "a > b",  w_b = after "b > a"
    expected entropy after the label = p H(w_a) + (1 - p) H(w_b)

and we ask the pair with the largest expected drop of the weights' entropy (the label expected
to teach the most about which heads this user follows). It runs the same
:func:`model.routing.update_offset` as the service, batched over candidates.

A second criterion reads w as a posterior over "which head is this user" (exact Hedge with
tau = 1 is Bayes' rule under the per-head Bradley-Terry likelihood) and asks the pair whose
answer carries the most information about the head (BALD):

    I(label; head) = H(sum_k w_k s_k) - sum_k w_k H(s_k),   s_k = sigmoid(r_k(a) - r_k(b))

with H the binary entropy: high where the heads disagree confidently and the user is uncertain.
Pure torch.
"""

from __future__ import annotations

import torch

from model.heads import preference_probability
from model.losses import entropy
from model.routing import ActiveCriterion, RoutingConfig, update_offset


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


def label_head_information(offset: torch.Tensor, prior_logits: torch.Tensor, r_a: torch.Tensor, r_b: torch.Tensor) -> torch.Tensor:
    """(K,) offset, (C, K) prior logits and rewards -> (C,) mutual information (nats) between the
    user's answer and which head they follow, under w = softmax(prior + offset)."""
    w = torch.softmax(prior_logits + offset.expand_as(prior_logits), -1)  # (C, K)
    s = torch.sigmoid(r_a - r_b)  # (C, K) each head's P(a > b)
    p = (w * s).sum(-1)  # (C,)
    return _binary_entropy(p) - (w * _binary_entropy(s)).sum(-1)


def _binary_entropy(p: torch.Tensor) -> torch.Tensor:
    p = p.clamp(1e-7, 1 - 1e-7)
    return -(p * p.log() + (1 - p) * (1 - p).log())


Criterion = ActiveCriterion  # "entropy": expected weight-entropy drop | "information": label-head information (BALD)


def best_query(
    offset: torch.Tensor, prior_logits: torch.Tensor, r_a: torch.Tensor, r_b: torch.Tensor, cfg: RoutingConfig,
    criterion: Criterion = "entropy",
) -> tuple[int, torch.Tensor]:
    """Index of the candidate to ask next, and every candidate's expected gain (C,)."""
    if criterion == "information":
        gain = label_head_information(offset, prior_logits, r_a, r_b)
    else:
        gain = expected_information_gain(offset, prior_logits, r_a, r_b, cfg)
    return int(gain.argmax()), gain
