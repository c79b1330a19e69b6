"""Mixture Bradley-Terry likelihood with the entropy regulariser (MiCRo stage 1).

    L = -mean_i log sum_k w_k(x_i) sigmoid(r_k(x_i, a_w) - r_k(x_i, a_l))
        + alpha * mean_i sum_k w_k(x_i) log w_k(x_i)

The second term is the negative entropy of the router: minimising it keeps every head in
use (alpha = 0.5 in the paper). Shapes: B pairs, G groups, K heads.

Grouped form: pairs that share one latent preference type (in our data: the same prompt and
the same preferred response, i.e. one best-of-N choice) form a group g, and

    L = -(1/B) sum_g log sum_k w_k(x_g) prod_{i in g} sigmoid(r_k(x_g, a_w) - r_k(x_g, a_l_i))
        + alpha * mean_g sum_k w_k(x_g) log w_k(x_g)

With one pair per group (``group = arange(B)``) this is exactly the per-pair loss above.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class LossParts:
    total: torch.Tensor  # scalar, what is minimised
    nll: torch.Tensor  # scalar, mixture negative log-likelihood
    neg_entropy: torch.Tensor  # scalar, mean sum_k w log w (<= 0)


def head_log_likelihoods(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> torch.Tensor:
    """(..., K), (..., K) -> (..., K) per-head pair log-likelihood log sigmoid(r_k(a_w) - r_k(a_l)).

    Its negative is the per-head loss L_k of the online routing update (model.routing.head_losses)."""
    return F.logsigmoid(r_chosen - r_rejected)


def entropy(log_w: torch.Tensor) -> torch.Tensor:
    """(..., K) log weights -> (...) entropy -sum_k w_k log w_k, in nats."""
    return -(log_w.exp() * log_w).sum(-1)


def mixture_log_likelihood(r_chosen: torch.Tensor, r_rejected: torch.Tensor, log_w: torch.Tensor) -> torch.Tensor:
    """(B, K) x3 -> (B,) log sum_k w_k sigmoid(diff_k), in log space."""
    return torch.logsumexp(log_w + head_log_likelihoods(r_chosen, r_rejected), dim=-1)


def group_responsibilities(
    r_chosen: torch.Tensor, r_rejected: torch.Tensor, group: torch.Tensor, log_w_group: torch.Tensor
) -> torch.Tensor:
    """EM posterior over heads for each choice group (its pairs share one latent head): (G, K), rows sum to 1.
    (B, K), (B, K), group ids (B,) in [0, G), (G, K) log weights."""
    per_group = torch.zeros_like(log_w_group).index_add(0, group, head_log_likelihoods(r_chosen, r_rejected))
    return torch.softmax(log_w_group + per_group, dim=-1)


def grouped_mixture_bt_loss(
    r_chosen: torch.Tensor,
    r_rejected: torch.Tensor,
    group: torch.Tensor,
    log_w_group: torch.Tensor,
    alpha: float = 0.5,
    pair_weight: torch.Tensor | None = None,
) -> LossParts:
    """(B, K), (B, K), group ids (B,) in [0, G), (G, K) log weights -> loss (see module doc).

    ``pair_weight`` (B,): a pair of weight c counts as c copies of it (its log-likelihood scaled by
    c inside its group's product, the total divided by sum c instead of B); None = 1 each."""
    per_pair = head_log_likelihoods(r_chosen, r_rejected)  # (B, K)
    total = r_chosen.shape[0]
    if pair_weight is not None:
        per_pair, total = per_pair * pair_weight[:, None], pair_weight.sum()
    per_group = torch.zeros_like(log_w_group).index_add(0, group, per_pair)  # (G, K)
    nll = -torch.logsumexp(log_w_group + per_group, dim=-1).sum() / total
    return regularised(nll, log_w_group, alpha)


def regularised(nll: torch.Tensor, log_w: torch.Tensor, alpha: float) -> LossParts:
    """Scalar nll, (B, K) log weights -> nll + alpha * mean_b sum_k w log w."""
    neg_entropy = -entropy(log_w).mean()
    return LossParts(total=nll + alpha * neg_entropy, nll=nll, neg_entropy=neg_entropy)
