"""MixtureRewardModel: K linear reward heads and a linear router with softmax.

Shapes: B batch, K heads, D embedding size.

    rewards  r = H e               H: (K, D), no bias       e: (B, D) response embedding
    weights  w = softmax(R p + b + u)   R: (K, D), b: (K,)  p: (B, D) prompt embedding
                                                            u: (B, K) per-user offset (0 for the prior)

``router="none"`` freezes R at zero: the *static mixture* (one global weight vector b).
Pure torch: no I/O, no web, no Redis.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

RouterMode = Literal["linear", "none"]


class MixtureRewardModel(nn.Module):
    def __init__(self, dim: int, num_heads: int, router: RouterMode = "linear") -> None:
        super().__init__()
        if num_heads < 1:
            raise ValueError("num_heads must be >= 1")
        self.dim, self.num_heads, self.router_mode = dim, num_heads, router
        self.heads = nn.Linear(dim, num_heads, bias=False)  # H: (K, D)
        self.router = nn.Linear(dim, num_heads, bias=True)  # R: (K, D), b: (K,)
        nn.init.zeros_(self.router.weight)
        nn.init.zeros_(self.router.bias)
        if router == "none":
            self.router.weight.requires_grad_(False)

    def rewards(self, emb: torch.Tensor) -> torch.Tensor:
        """(B, D) -> (B, K) per-head rewards."""
        return self.heads(emb)

    def router_logits(self, prompt_emb: torch.Tensor, offset: torch.Tensor | None = None) -> torch.Tensor:
        """(B, D) [+ (B, K) or (K,) user offset] -> (B, K) logits."""
        logits = self.router(prompt_emb)
        return logits if offset is None else logits + offset

    def log_weights(self, prompt_emb: torch.Tensor, offset: torch.Tensor | None = None) -> torch.Tensor:
        """(B, D) -> (B, K) log mixture weights."""
        return torch.log_softmax(self.router_logits(prompt_emb, offset), dim=-1)

    def forward(
        self, emb: torch.Tensor, prompt_emb: torch.Tensor, offset: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Response (B, D), prompt (B, D) -> rewards (B, K), weights (B, K)."""
        return self.rewards(emb), self.log_weights(prompt_emb, offset).exp()


def mixture_score(rewards: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """(N, K) rewards, (K,) or (N, K) weights -> (N,) personalised score sum_k w_k r_k."""
    return (rewards * weights).sum(-1)


def preference_probability(r_a: torch.Tensor, r_b: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """P(a > b) = sum_k w_k sigmoid(r_k(a) - r_k(b)); inputs (..., K) -> (...)."""
    return (weights * torch.sigmoid(r_a - r_b)).sum(-1)
