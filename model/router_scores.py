"""How a router is judged on validation examples (model.fit_router's choices, evaluation.stated_validation):
per-group accuracy of the served score, the fit's criterion, and the weights the service gives a stated example at
any prior and pseudo-label strength. Pure torch over embedded examples (stated contexts through the on-disk cache).
"""

from __future__ import annotations

from pathlib import Path

import torch

from model.backbone import Encoder
from model.context_routing import RouterExamples, served_correct
from model.features import embed_texts
from model.heads import MixtureRewardModel
from model.router_examples import statement_key
from model.routing import NEUTRAL_CONTEXT, RoutingConfig, context_offset


def groups_of(pairs, stated: bool) -> list[str]:
    """Per example, the group its accuracy is averaged in: the user type (stated); without a statement the
    data set, except HH under its own labels, whose two instructions (red-teaming prompts: the less harmful
    answer; others: the more helpful) and the refusal pairs (model/refusal_pairs.py) count as groups of their
    own, so a new user's default on harmful requests weighs as much as a data set in the choice."""
    if stated:
        return [statement_key(p) or p.dataset for p in pairs]
    return [statement_key(p) if p.dataset == "relabeled_hh" else p.dataset for p in pairs]


def group_means(correct: torch.Tensor, groups: list[str]) -> dict[str, float]:
    out = {}
    for g in sorted(set(groups)):
        mask = torch.tensor([x == g for x in groups])
        out[g] = round(float(correct[mask].mean()), 4)
    return out


def score(router, val_sets) -> dict:
    """Validation accuracies of the served score, per group, and the criterion."""
    parts = {name: group_means(served_correct(router, ex), groups) for name, (ex, groups) in val_sets.items()}
    means = [sum(v.values()) / len(v) for v in parts.values() if v]
    return {**parts, "criterion": round(sum(means) / len(means), 4)}


def served_stated_weights(model: MixtureRewardModel, pairs, ex: RouterExamples, encoder: Encoder, cache_dir: Path,
                          context_strength: float, prior_strength: float = 1.0) -> torch.Tensor:
    """(N, K) the weights the service gives each stated example (model/personal_scoring.py):
    softmax(s (R p + b) + S q + c x the stated context's pseudo-label (model.routing.context_offset))."""
    contexts = sorted({p.context for p in pairs})
    emb = embed_texts(contexts + [NEUTRAL_CONTEXT], encoder, cache_dir)
    with torch.no_grad():
        r = model.rewards(emb)
        cfg = RoutingConfig(context_strength=context_strength)
        offset = {c: context_offset(r[i], r[-1], cfg) for i, c in enumerate(contexts)}
        offsets = torch.stack([offset[p.context] for p in pairs])  # (N, K)
        logits = prior_strength * model.router(ex.prompt) + model.statement_logits(ex.statement) + offsets
        return torch.softmax(logits, -1)


def stated_accuracy(model: MixtureRewardModel, pairs, ex: RouterExamples, encoder: Encoder, cache_dir: Path,
                    strengths: tuple[float, ...], prior_strength: float = 1.0) -> dict[float, dict[str, float]]:
    """The served score's accuracy per user type on stated examples, weighed as the service weighs them
    (:func:`served_stated_weights`), at each pseudo-label strength -> strength -> user type -> accuracy."""
    groups = groups_of(pairs, True)
    out = {}
    for c in strengths:
        w = served_stated_weights(model, pairs, ex, encoder, cache_dir, c, prior_strength)
        out[c] = group_means(((w * ex.diff).sum(-1) > 0).float(), groups)
    return out


def context_strengths(model: MixtureRewardModel, pairs, ex: RouterExamples, encoder: Encoder, cache_dir: Path,
                      grid: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0)) -> dict[float, float]:
    """The stated context's pseudo-label (model.routing.context_offset, added to the router's and the
    statement logits by the service) at each strength: mean over user types of the served accuracy on the validation examples."""
    return {c: round(sum(m.values()) / len(m), 4)
            for c, m in stated_accuracy(model, pairs, ex, encoder, cache_dir, grid).items()}
