"""Online MiCRo routing update for one user (stage 2). Pure torch, no I/O.

A user is an offset ``u`` (K,) added to the router's logits: ``w = softmax(z + u)``
where ``z = R p + b`` is the prior's logits for the prompt. On a label (a_w preferred
to a_l) with per-head rewards ``r_w``, ``r_l`` (K,):

    L_k = -log sigmoid(r_k(a_w) - r_k(a_l))              per-head loss
    f   = softmax(log w - L / tau)                       Hedge target, in log space
    mode "mirror":  u <- u - eta * (w - f)               cross-entropy(f, w) gradient step
    mode "hedge":   u <- u - L / tau                     exact Bayesian reweighting

``tau`` is the Hedge temperature, ``eta`` the step size of the mirror-descent step.

A user's stated context (``PUT /v1/users/{id}/context``, "answers like a business report") acts
as one pseudo-label before any real one: the heads are asked whether they prefer the context
text to a neutral statement, and the exact Hedge step of that label becomes the context offset
``c = -strength * L(context > neutral)`` (centred), added to the logits with ``u``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

import torch

from model.losses import head_log_likelihoods

UpdateMode = Literal["mirror", "hedge"]
# how POST /v1/users/{id}/next-query ranks pairs (model/active.py's Criterion, declared here: active.py imports
# this module): expected drop of the weights' entropy | information the label carries about the head (BALD)
ActiveCriterion = Literal["entropy", "information"]
ACTIVE_CRITERIA: tuple[str, ...] = get_args(ActiveCriterion)


@dataclass(frozen=True)
class RoutingConfig:
    # defaults chosen on simulated users from the train split's validation slice (docs/personalization.md)
    tau: float = 0.5  # Hedge temperature: smaller trusts one label more
    eta: float = 4.0  # mirror-descent step size on the user's offset
    mode: UpdateMode = "mirror"
    max_abs_offset: float = 30.0  # keeps softmax finite whatever the label stream
    context_strength: float = 1.0  # weight of the stated-context pseudo-label (0: none; the statement logits S stay)
    # the next-query criterion, chosen on validation users by python -m evaluation.online_choice --write-checkpoint;
    # checkpoints written before it have no key and keep "entropy"
    active_criterion: ActiveCriterion = "entropy"
    # how much a user's weights trust the router: w = softmax(s (R p + b) + u); 1 = the router's prior,
    # 0 = uniform over heads before any label (chosen on validation users by evaluation.online_choice)
    prior_strength: float = 1.0

    def __post_init__(self) -> None:
        """Refuse a number the update cannot use (a NaN would reach every user's offset)."""
        for name in ("tau", "eta", "max_abs_offset", "context_strength", "prior_strength"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"routing {name} must be a finite number, got {value!r}")
        for name in ("tau", "eta", "max_abs_offset"):
            if getattr(self, name) <= 0:
                raise ValueError(f"routing {name} must be > 0, got {getattr(self, name)!r}")
        for name in ("context_strength", "prior_strength"):
            if getattr(self, name) < 0:
                raise ValueError(f"routing {name} must be >= 0, got {getattr(self, name)!r}")
        if self.mode not in ("mirror", "hedge"):
            raise ValueError(f"routing mode must be 'mirror' or 'hedge', got {self.mode!r}")
        if self.active_criterion not in ACTIVE_CRITERIA:
            raise ValueError(f"routing active_criterion must be one of {', '.join(map(repr, ACTIVE_CRITERIA))}, "
                             f"got {self.active_criterion!r}")


NEUTRAL_CONTEXT = "I want answers."  # what a stated context is compared with


def head_losses(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> torch.Tensor:
    """(..., K) -> (..., K) per-head Bradley-Terry loss L_k = -log sigmoid(r_k(a_w) - r_k(a_l))."""
    return -head_log_likelihoods(r_chosen, r_rejected)


def hedge_target(log_w: torch.Tensor, losses: torch.Tensor, tau: float) -> torch.Tensor:
    """f_k = w_k exp(-L_k/tau) / sum_j w_j exp(-L_j/tau), computed as a log-space softmax."""
    return torch.softmax(log_w - losses / tau, dim=-1)


def update_offset(
    offset: torch.Tensor,
    prior_logits: torch.Tensor,
    r_chosen: torch.Tensor,
    r_rejected: torch.Tensor,
    cfg: RoutingConfig,
) -> torch.Tensor:
    """One label -> the user's new offset (K,). ``prior_logits`` (K,) is R p + b for the prompt.
    A step that is not finite (NaN or infinite terms) leaves the offset as it was."""
    losses = head_losses(r_chosen, r_rejected)
    if cfg.mode == "hedge":
        new = offset - losses / cfg.tau
    else:
        log_w = torch.log_softmax(prior_logits + offset, dim=-1)
        f = hedge_target(log_w, losses, cfg.tau)
        new = offset - cfg.eta * (log_w.exp() - f)
    # never store a NaN (the Redis script does the same): a non-finite step leaves the offset as it was
    new = torch.where(torch.isfinite(new).all(-1, keepdim=True), new, offset)
    new = new - new.mean(-1, keepdim=True)  # softmax is shift-invariant: keep the offset centred
    return new.clamp(-cfg.max_abs_offset, cfg.max_abs_offset)


def context_offset(r_context: torch.Tensor, r_neutral: torch.Tensor, cfg: RoutingConfig) -> torch.Tensor:
    """(K,) rewards of the context text and of NEUTRAL_CONTEXT -> (K,) centred logit offset."""
    c = -cfg.context_strength * head_losses(r_context, r_neutral)
    return c - c.mean(-1, keepdim=True)
