"""Stage-1 optimisation on cached embeddings: k-means initialisation + full-batch Adam on the
MiCRo loss, early stopping on a validation slice, several restarts. Pure torch, no I/O.

Shapes: N pairs, D embedding size, K heads.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from model.heads import MixtureRewardModel, RouterMode
from model.losses import LossParts, grouped_mixture_bt_loss


@dataclass
class PairTensors:
    chosen: torch.Tensor  # (N, D) embedding of prompt + preferred response
    rejected: torch.Tensor  # (N, D) embedding of prompt + other response
    prompt: torch.Tensor  # (N, D) router input: embedding of context + prompt
    group: torch.Tensor | None = None  # (N,) ids 0..G-1 of pairs sharing one latent type; None = one each
    # A group is one best-of-N choice (one prompt) or one annotator's pairs (many prompts): its
    # prior over heads is the mean of its pairs' router weights (group_log_weights).
    weight: torch.Tensor | None = None  # (N,) pair weights (the data's weight column); None = 1 each

    def __post_init__(self) -> None:
        if self.group is None:
            self.group = torch.arange(self.chosen.shape[0])
        if self.weight is None:
            self.weight = torch.ones(self.chosen.shape[0])
        self.group = torch.unique(self.group, return_inverse=True)[1]  # dense ids 0..G-1

    def __len__(self) -> int:
        return self.chosen.shape[0]

    @property
    def num_groups(self) -> int:
        return int(self.group.max()) + 1 if len(self) else 0

    def group_sizes(self) -> torch.Tensor:
        """(G,) pairs per group."""
        return torch.bincount(self.group, minlength=self.num_groups)

    def subset(self, idx: torch.Tensor) -> PairTensors:
        return PairTensors(self.chosen[idx], self.rejected[idx], self.prompt[idx], self.group[idx], self.weight[idx])

    @property
    def diff(self) -> torch.Tensor:
        return self.chosen - self.rejected


@dataclass
class FitConfig:
    num_heads: int = 8
    router: RouterMode = "linear"
    alpha: float = 0.5  # entropy regulariser weight, as in the MiCRo paper
    lr: float = 0.01  # Adam on a few thousand pairs, full batch
    weight_decay: float = 1e-4  # L2 on heads and router: D=384 features vs a few thousand pairs
    max_steps: int = 1500  # full-batch steps; early stopping usually ends sooner
    eval_every: int = 10  # steps between validation checks
    patience: int = 15  # validation checks without improvement before stopping
    restarts: int = 3  # independent k-means seeds; the best validation likelihood wins
    init: str = "kmeans"  # "kmeans" (directions of preference differences) or "random"
    seed: int = 0
    expert: bool = False  # one more, frozen head reading the last embedding coordinate (a kept score head)


@dataclass
class FitResult:
    model: MixtureRewardModel
    val_nll: float
    steps: int
    restart: int
    history: list[dict[str, float]] = field(default_factory=list)


def spherical_kmeans(x: torch.Tensor, k: int, gen: torch.Generator, iters: int = 30) -> torch.Tensor:
    """(N, D) -> (k, D) unit centroids of cosine k-means with k-means++ seeding."""
    x = torch.nn.functional.normalize(x, dim=-1)
    first = torch.randint(len(x), (1,), generator=gen)
    centroids = [x[first[0]]]
    for _ in range(1, k):
        sim = x @ torch.stack(centroids).T  # (N, c)
        dist = (1 - sim.max(dim=1).values).clamp_min(1e-12)
        pick = torch.multinomial(dist, 1, generator=gen)
        centroids.append(x[pick[0]])
    c = torch.stack(centroids)
    for _ in range(iters):
        assign = (x @ c.T).argmax(dim=1)
        for j in range(k):
            members = x[assign == j]
            if len(members):
                c[j] = torch.nn.functional.normalize(members.sum(0), dim=0)
    return c


def initial_model(train: PairTensors, cfg: FitConfig, gen: torch.Generator) -> MixtureRewardModel:
    dim = train.chosen.shape[1]
    model = MixtureRewardModel(dim, cfg.num_heads, router=cfg.router, expert=cfg.expert,
                               router_dim=train.prompt.shape[1])
    diff = train.diff
    if cfg.init == "kmeans" and cfg.num_heads > 1:
        # cluster each group's mean preference direction: one best-of-N choice, one point
        group_diff = torch.zeros(train.num_groups, dim).index_add(0, train.group, diff)
        centroids = spherical_kmeans(group_diff, cfg.num_heads, gen)  # (K, D)
    else:
        centroids = torch.nn.functional.normalize(
            diff.mean(0, keepdim=True) + 0.1 * torch.randn(cfg.num_heads, dim, generator=gen) * diff.std(), dim=-1
        )
    # scale each head so its typical margin on the training pairs is about 1
    proj = diff @ centroids.T  # (N, K)
    scale = 1.0 / proj.abs().mean(0).clamp_min(1e-6)
    with torch.no_grad():
        model.heads.weight.copy_(centroids * scale[:, None])
    return model


def group_log_weights(model: MixtureRewardModel, pairs: PairTensors) -> torch.Tensor:
    """(G, K) log prior over heads of each group: log of the mean of its pairs' router weights.
    A choice group shares one prompt, so this is log w(x_g) itself; an annotator's group spans
    prompts, and its latent head is one draw from their average routing."""
    w = model.log_weights(pairs.prompt).exp()  # (N, K)
    summed = torch.zeros(pairs.num_groups, w.shape[1], dtype=w.dtype).index_add(0, pairs.group, w)
    return (summed / pairs.group_sizes()[:, None].to(w.dtype)).clamp_min(1e-30).log()


def loss_of(model: MixtureRewardModel, pairs: PairTensors, diff: torch.Tensor, alpha: float) -> LossParts:
    """Heads are linear without bias, so r(chosen) - r(rejected) = H (e_chosen - e_rejected).
    ``diff`` = pairs.diff, computed once per fit."""
    log_w = group_log_weights(model, pairs)  # (G, K)
    margins = model.rewards(diff)  # (N, K)
    weight = None if bool((pairs.weight == 1).all()) else pairs.weight
    return grouped_mixture_bt_loss(margins, torch.zeros_like(margins), pairs.group, log_w, alpha, weight)


@torch.no_grad()
def nll_of(model: MixtureRewardModel, pairs: PairTensors, diff: torch.Tensor) -> float:
    return float(loss_of(model, pairs, diff, alpha=0.0).nll)


def fit_once(
    train: PairTensors, val: PairTensors, cfg: FitConfig, seed: int, on_step: Callable[[], None] | None = None
) -> FitResult:
    gen = torch.Generator().manual_seed(seed)
    model = initial_model(train, cfg, gen)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    train_diff, val_diff = train.diff, val.diff
    best = (float("inf"), copy.deepcopy(model.state_dict()), 0)
    history, waited = [], 0
    for step in range(1, cfg.max_steps + 1):
        opt.zero_grad(set_to_none=True)
        parts = loss_of(model, train, train_diff, cfg.alpha)
        parts.total.backward()
        opt.step()
        if on_step is not None:
            on_step()
        if step % cfg.eval_every:
            continue
        val_nll = nll_of(model, val, val_diff)
        history.append(
            {"step": step, "train_loss": parts.total.item(), "train_nll": parts.nll.item(), "val_nll": val_nll}
        )
        if val_nll < best[0] - 1e-5:
            best, waited = (val_nll, copy.deepcopy(model.state_dict()), step), 0
        else:
            waited += 1
            if waited >= cfg.patience:
                break
    model.load_state_dict(best[1])
    return FitResult(model=model, val_nll=best[0], steps=best[2], restart=0, history=history)


def fit_mixture(
    train: PairTensors, val: PairTensors, cfg: FitConfig, on_step: Callable[[], None] | None = None
) -> FitResult:
    """Best of ``cfg.restarts`` runs by validation negative log-likelihood."""
    torch.manual_seed(cfg.seed)
    best: FitResult | None = None
    for r in range(max(1, cfg.restarts)):
        result = fit_once(train, val, cfg, seed=cfg.seed * 1000 + r, on_step=on_step)
        result.restart = r
        if best is None or result.val_nll < best.val_nll:
            best = result
    assert best is not None
    best.model.eval().requires_grad_(False)
    return best
