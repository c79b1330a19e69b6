"""MixtureRewardModel: K linear reward heads and a linear router with softmax.

Shapes: B batch, K heads, D embedding size.

    rewards  r = H e               H: (K, D), no bias       e: (B, D) response embedding
    weights  w = softmax(R p + b + u)   R: (K, P), b: (K,)  p: (B, P) prompt embedding (P = D in checkpoints)
                                                            u: (B, K) per-user offset (0 for the prior)
    statement logits  S q          S: (K, P), no bias       q: (B, P) emb(stated context) - emb(neutral
                                   statement); the service adds them to u when a user states a context
                                   (model.personal_scoring.with_stated_context). Zero until model.fit_router
                                   fits it, so older checkpoints read the statement only through R.

``router="none"`` freezes R at zero: the *static mixture* (one global weight vector b).
``expert=True`` adds one frozen head after the K learned ones: it reads the last embedding
coordinate, where the encoder puts a reward model's own score (Encoder(keep_score_head=True)),
so rewards and weights have K + 1 columns and the router learns when to trust that expert.
Pure torch: no I/O, no web, no Redis.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

RouterMode = Literal["linear", "none"]


class MixtureRewardModel(nn.Module):
    def __init__(
        self, dim: int, num_heads: int, router: RouterMode = "linear", expert: bool = False,
        router_dim: int | None = None,
    ) -> None:
        """``router_dim``: the width of what the router reads, when not the heads' ``dim`` (an offline probe whose
        heads read more than the prompt's features; checkpoints keep one width)."""
        super().__init__()
        if num_heads < 1:
            raise ValueError("num_heads must be >= 1")
        self.dim, self.router_mode, self.expert = dim, router, expert
        router_dim = dim if router_dim is None else router_dim
        self.num_heads = num_heads + int(expert)  # K outputs, the frozen expert included
        self.heads = nn.Linear(dim, num_heads, bias=False)  # H: (K, D), the learned heads
        self.router = nn.Linear(router_dim, self.num_heads, bias=True)  # R: (K, P), b: (K,)
        nn.init.zeros_(self.router.weight)
        nn.init.zeros_(self.router.bias)
        self.statement_router = nn.Linear(router_dim, self.num_heads, bias=False)  # S: (K, P)
        nn.init.zeros_(self.statement_router.weight)
        if router == "none":
            self.router.weight.requires_grad_(False)
            self.statement_router.weight.requires_grad_(False)
        # serving only (never trained, never saved): the weight of the router's logits in a user's
        # weights, the checkpoint's routing.prior_strength; 1 everywhere stage 1 trains and evaluates
        self.prior_strength = 1.0

    def rewards(self, emb: torch.Tensor) -> torch.Tensor:
        """(B, D) -> (B, K) per-head rewards (the expert's: the last coordinate, as it is)."""
        r = self.heads(emb)
        return torch.cat([r, emb[..., -1:].to(r.dtype)], dim=-1) if self.expert else r

    def head_matrix(self) -> torch.Tensor:
        """(K, D) all heads as one matrix: r = H e (the expert's row is the last unit vector)."""
        w = self.heads.weight
        if not self.expert:
            return w
        unit = torch.zeros(1, self.dim, dtype=w.dtype, device=w.device)
        unit[0, -1] = 1.0
        return torch.cat([w, unit])

    def router_logits(self, prompt_emb: torch.Tensor, offset: torch.Tensor | None = None) -> torch.Tensor:
        """(B, D) [+ (B, K) or (K,) user offset] -> (B, K) logits ``s (R p + b) [+ u]``, s = prior_strength."""
        logits = self.router(prompt_emb)
        if self.prior_strength != 1.0:
            logits = self.prior_strength * logits
        return logits if offset is None else logits + offset

    def statement_logits(self, statement_diff: torch.Tensor) -> torch.Tensor:
        """(..., D) emb(stated context) - emb(neutral statement) -> (..., K) logits S q."""
        return self.statement_router(statement_diff)

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
    """The mixture likelihood trained on: P(a > b) = sum_k w_k sigmoid(r_k(a) - r_k(b)); (..., K) -> (...).
    It can be over 1/2 while a scores below b: see :func:`score_preference_probability`."""
    return (weights * torch.sigmoid(r_a - r_b)).sum(-1)


def score_preference_probability(score_a: torch.Tensor, score_b: torch.Tensor) -> torch.Tensor:
    """Bradley-Terry on the personalised scores: P(a > b) = sigmoid(s(a) - s(b)), s = sum_k w_k r_k.
    Over 1/2 exactly when a scores (so ranks) above b: the pairwise answer that agrees with the ranking."""
    return torch.sigmoid(score_a - score_b)
