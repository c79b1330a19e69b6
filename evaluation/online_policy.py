"""The online policies a new user can be served with (update rule, prior, active criterion) and
their choice on validation users. Each simulated user (evaluation/simulated_users.py) posts n labels
(random order, or the pair an active criterion picks from a random candidate pool), and each
evaluation pair's outcome under their weights is kept, so figures can carry a bootstrap interval
over prompts. Calls the same :func:`model.routing.update_offset` the service runs. Pure torch, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch

from evaluation.simulated_users import ScoredPairs
from model.active import best_query
from model.routing import RoutingConfig, update_offset
from model.accuracy import pair_correct

# label counts an online policy is chosen on (validation users); n = 0, a new user's reward before any
# label, counts like the others: it is what every new user (and every RL sample without a user) is scored with
SELECT_AT = [0, 1, 2, 5, 10, 20]
REPORT_AT = [0, 1, 2, 5, 10, 20, 50]  # label counts the test figures are reported at

ACTIVE = ("random", "entropy", "information")  # random order | expected entropy drop | label-head information
# a new user's starting weights: the router's for the prompt (at strength 1, 0.5 or 2), or uniform
PRIORS = ("router", "uniform", "router x0.5", "router x2")


def prior_strength(prior: str) -> float:
    """The routing.prior_strength a prior name stands for: router 1, uniform 0, "router x0.5" 0.5."""
    if prior in ("router", "uniform"):
        return 1.0 if prior == "router" else 0.0
    name, _, strength = prior.partition(" x")
    if name != "router" or not strength:
        raise ValueError(f"unknown prior {prior!r}")
    return float(strength)


def prior_name(strength: float) -> str:
    """Inverse of :func:`prior_strength`."""
    return "router" if strength == 1.0 else "uniform" if strength == 0.0 else f"router x{strength:g}"


@dataclass(frozen=True)
class OnlinePolicy:
    """Everything a new user's update depends on: the routing step and the starting prior."""

    routing: RoutingConfig
    prior: str = "router"

    def label(self) -> str:
        rc = self.routing
        step = f"exact Hedge tau={rc.tau:g}" if rc.mode == "hedge" else f"mirror tau={rc.tau:g} eta={rc.eta:g}"
        return f"{step}, {self.prior} prior"


def with_prior(pairs: ScoredPairs, prior: str) -> ScoredPairs:
    """The router's logits scaled by the prior's strength, as the service scales them
    (model.prior_strength): the uniform prior drops them (every head weighs 1/K before any label)."""
    strength = prior_strength(prior)
    return pairs if strength == 1.0 else replace(pairs, prior_logits=strength * pairs.prior_logits)


def simulate_outcomes(
    labels: ScoredPairs, evaluation: ScoredPairs, policy: OnlinePolicy, checkpoints: Sequence[int], orders: int,
    seed: int = 0, pool: int | None = None, active: str = "random",
) -> torch.Tensor:
    """(orders, len(checkpoints), N_eval) 1/0 outcomes: each order a fresh user whose labels come
    from a random pool of ``labels`` (``pool`` pairs; all of them by default), asked in random
    order or by the ``active`` criterion; the same pools for every criterion at one seed."""
    labels, evaluation = with_prior(labels, policy.prior), with_prior(evaluation, policy.prior)
    gen = torch.Generator().manual_seed(seed)
    out = torch.zeros(orders, len(checkpoints), len(evaluation))
    k = labels.r_chosen.shape[1]
    for o in range(orders):
        remaining = torch.randperm(len(labels), generator=gen)[: pool or len(labels)].tolist()
        offset, applied = torch.zeros(k), 0
        for j, n in enumerate(checkpoints):
            while applied < n and remaining:
                i = remaining.pop(_pick(labels, offset, remaining, policy.routing, active))
                offset = update_offset(offset, labels.prior_logits[i], labels.r_chosen[i], labels.r_rejected[i], policy.routing)
                applied += 1
            w = torch.softmax(evaluation.prior_logits + offset, dim=-1)
            out[o, j] = pair_correct(evaluation.r_chosen, evaluation.r_rejected, w).float()
    return out


def _pick(labels: ScoredPairs, offset: torch.Tensor, remaining: list[int], cfg: RoutingConfig, active: str) -> int:
    if active == "random":
        return 0  # ``remaining`` is already in random order
    idx = torch.tensor(remaining)
    return best_query(offset, labels.prior_logits[idx], labels.r_chosen[idx], labels.r_rejected[idx], cfg,
                      criterion=active)[0]  # type: ignore[arg-type]


def validation_score(
    fit_sets: dict[str, ScoredPairs], val_sets: dict[str, ScoredPairs], policy: OnlinePolicy,
    select_at: Sequence[int], orders: int,
) -> float:
    """Mean validation accuracy over user types and label counts: labels from the fit slice,
    outcomes on the validation slice (never the test split)."""
    scores = [simulate_outcomes(fit_sets[u], val_sets[u], policy, select_at, orders).mean() for u in val_sets]
    return float(torch.stack(scores).mean())


def choose_policy(
    fit_sets: dict[str, ScoredPairs], val_sets: dict[str, ScoredPairs], grid: Sequence[OnlinePolicy],
    select_at: Sequence[int], orders: int,
) -> tuple[OnlinePolicy, dict[OnlinePolicy, float]]:
    """The policy with the best :func:`validation_score`, and every policy's score."""
    table = {policy: validation_score(fit_sets, val_sets, policy, select_at, orders) for policy in grid}
    return max(table, key=table.__getitem__), table
