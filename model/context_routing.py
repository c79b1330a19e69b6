"""Context-aware routing (MiCRo's second stage): the router fitted on frozen heads. Pure torch, no I/O.

The router reads the user's stated context (or nothing) followed by the prompt, p = emb([context +] prompt),
and the statement on its own, q = emb(context) - emb(neutral statement) (0 with no context), and gives
weights w = softmax(R p + b + S q): R sees the statement within the prompt, S sees what was said whatever
the prompt (a long dialogue dilutes the statement in p). S may be fitted free (K x D) or through a
statement basis B (T x D, one unit row per stated type, :func:`statement_basis`): S = A B with A (K x T),
so a statement moves the weights only as far as it points along what some type's statements mean in common,
whatever its wording (free S, fitted on a few dozen statements, also learns their words). Its examples are
preference pairs with the frozen heads' reward differences d_k = r_k(a_w) - r_k(a_l); three losses are offered
(the fit's choice is made on validation, python -m model.fit_router):

    "mixture":  -log sum_k w_k sigmoid(d_k)          the MiCRo mixture likelihood (per pair)
    "score":    -log sigmoid(sum_k w_k d_k)           Bradley-Terry on the served score s = sum_k w_k r_k
    "grouped":  -log sum_k wbar_k(g) prod_{i in g} sigmoid(d_ik)   per group g of examples sharing one latent
                type (one user's pairs: a statement and the prompts they labelled), wbar(g) the mean of its
                examples' weights: stage 1's annotator likelihood (model.losses.grouped_mixture_bt_loss)

plus ``alpha`` times the mean negative entropy of w (as in stage 1) and L2 ``weight_decay`` on R and S (on A,
with a basis).
Shapes: N examples, D router features, K heads.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from model.losses import entropy

RouterLoss = Literal["mixture", "score", "grouped"]


@dataclass
class RouterExamples:
    prompt: torch.Tensor  # (N, D) router input of each example
    diff: torch.Tensor  # (N, K) frozen heads' reward differences, chosen minus rejected
    weight: torch.Tensor | None = None  # (N,) example weights; None = 1 each
    group: torch.Tensor | None = None  # (N,) ids of examples sharing one latent type ("grouped"); None = one each
    statement: torch.Tensor | None = None  # (N, D) emb(context) - emb(neutral), 0 rows with no context; None = 0

    def __post_init__(self) -> None:
        if self.statement is None:
            self.statement = torch.zeros_like(self.prompt)
        if self.weight is None:
            self.weight = torch.ones(self.prompt.shape[0])
        if self.group is None:
            self.group = torch.arange(self.prompt.shape[0])
        self.group = torch.unique(self.group, return_inverse=True)[1]  # dense ids 0..G-1

    def __len__(self) -> int:
        return self.prompt.shape[0]

    def subset(self, idx: torch.Tensor) -> RouterExamples:
        return RouterExamples(self.prompt[idx], self.diff[idx], self.weight[idx], self.group[idx], self.statement[idx])

    def with_head_factors(self, factors: torch.Tensor) -> RouterExamples:
        """The same examples with each head's differences multiplied by its factor (model/head_scale.py)."""
        return RouterExamples(self.prompt, self.diff * factors, self.weight, self.group, self.statement)


class ContextRouter(nn.Module):
    """logits = R p + b + S q: the checkpoint's ``router`` and ``statement_router`` (model/heads.py).
    With a ``basis`` B (T, D), ``statement`` maps (T,) -> (K,) and S = statement.weight @ B."""

    def __init__(self, router: nn.Linear, statement: nn.Linear, basis: torch.Tensor | None = None) -> None:
        super().__init__()
        self.router, self.statement = router, statement
        self.register_buffer("basis", basis)

    @classmethod
    def zeros(cls, dim: int, heads: int, basis: torch.Tensor | None = None) -> ContextRouter:
        out = cls(nn.Linear(dim, heads), nn.Linear(dim if basis is None else basis.shape[0], heads, bias=False), basis)
        for param in out.parameters():
            nn.init.zeros_(param)
        return out

    def statement_matrix(self) -> torch.Tensor:
        """(K, D) S as the checkpoint stores it."""
        return self.statement.weight if self.basis is None else self.statement.weight @ self.basis

    def forward(self, prompt: torch.Tensor, statement: torch.Tensor) -> torch.Tensor:
        q = statement if self.basis is None else statement @ self.basis.T
        return self.router(prompt) + self.statement(q)


def statement_basis(vectors: torch.Tensor, keys: list[str], coords: slice, max_rows: int = 32) -> torch.Tensor:
    """(N, D) distinct statements' q = emb(statement) - emb(neutral), each one's type (``keys``) -> (T, D) unit
    rows: each type's mean q on ``coords`` (the backbone's deepest pooled layer: its sentence meaning; zero
    elsewhere). More than ``max_rows`` types (a team's users): the top ``max_rows`` directions of their means."""
    names = sorted(set(keys))
    means = torch.stack([vectors[[i for i, k in enumerate(keys) if k == name]].mean(0) for name in names])
    part = torch.zeros_like(means)
    part[:, coords] = means[:, coords]
    if len(names) > max_rows:
        part = torch.linalg.svd(part, full_matrices=False).Vh[:max_rows]
    return part / part.norm(dim=-1, keepdim=True).clamp_min(1e-12)


@dataclass(frozen=True)
class RouterFitConfig:
    loss: RouterLoss = "mixture"
    alpha: float = 0.0  # entropy bonus: > 0 keeps the weights spread
    weight_decay: float = 1e-3  # L2 on R and S (A with a basis; not on b)
    lr: float = 0.01
    max_steps: int = 800
    eval_every: int = 10
    patience: int = 20  # validation checks without improvement before stopping


def router_loss(logits: torch.Tensor, diff: torch.Tensor, weight: torch.Tensor, loss: RouterLoss, alpha: float,
                group: torch.Tensor | None = None) -> torch.Tensor:
    """(N, K) router logits, (N, K) reward differences, (N,) weights [, (N,) dense group ids for
    "grouped"] -> scalar loss (module doc)."""
    log_w = torch.log_softmax(logits, -1)
    if loss == "mixture":
        total = (weight * -torch.logsumexp(log_w + F.logsigmoid(diff), -1)).sum()
    elif loss == "score":
        total = (weight * -F.logsigmoid((log_w.exp() * diff).sum(-1))).sum()
    elif loss == "grouped":
        group = torch.arange(len(diff)) if group is None else group
        size = int(group.max()) + 1
        counts = torch.bincount(group, minlength=size).clamp_min(1).to(logits.dtype)
        mean_w = torch.zeros(size, diff.shape[1], dtype=logits.dtype).index_add(0, group, log_w.exp()) / counts[:, None]
        evidence = torch.zeros_like(mean_w).index_add(0, group, weight[:, None] * F.logsigmoid(diff))
        total = -torch.logsumexp(mean_w.clamp_min(1e-30).log() + evidence, -1).sum()
    else:
        raise ValueError(f"router loss must be 'mixture', 'score' or 'grouped', got {loss!r}")
    return total / weight.sum() - alpha * (weight * entropy(log_w)).sum() / weight.sum()


@torch.no_grad()
def served_correct(router: ContextRouter, ex: RouterExamples) -> torch.Tensor:
    """(N,) 1.0 where the served score sum_k w_k r_k ranks the chosen response first."""
    w = torch.softmax(router(ex.prompt, ex.statement), -1)
    return ((w * ex.diff).sum(-1) > 0).float()


def fit_router(init: ContextRouter, fit: RouterExamples, val: RouterExamples, cfg: RouterFitConfig,
               on_step: Callable[[], None] | None = None) -> tuple[ContextRouter, float, int]:
    """Full-batch Adam from ``init`` (copied, never changed), early stopping on the validation loss
    -> (the best router, its validation loss, steps taken)."""
    router = copy.deepcopy(init)
    router.requires_grad_(True)
    opt = torch.optim.Adam([{"params": [router.router.weight, router.statement.weight], "weight_decay": cfg.weight_decay},
                            {"params": [router.router.bias], "weight_decay": 0.0}], lr=cfg.lr)
    best, best_loss, since, step = copy.deepcopy(router), _val_loss(router, val, cfg), 0, 0
    for step in range(1, cfg.max_steps + 1):
        opt.zero_grad()
        router_loss(router(fit.prompt, fit.statement), fit.diff, fit.weight, cfg.loss, cfg.alpha, fit.group).backward()
        opt.step()
        if on_step is not None:
            on_step()
        if step % cfg.eval_every:
            continue
        loss = _val_loss(router, val, cfg)
        if loss < best_loss - 1e-5:
            best, best_loss, since = copy.deepcopy(router), loss, 0
        else:
            since += 1
            if since >= cfg.patience:
                break
    best.requires_grad_(False)
    return best, best_loss, step


@torch.no_grad()
def _val_loss(router: ContextRouter, val: RouterExamples, cfg: RouterFitConfig) -> float:
    return float(router_loss(router(val.prompt, val.statement), val.diff, val.weight, cfg.loss, 0.0, val.group))
