"""The final training table: held-out pairwise accuracy of the single Bradley-Terry baseline and
of the mixture, and per user the head chosen on that user's *validation* pairs, scored on the
user's separate *held-out* pairs. Users are the data's ``user_id`` values; built-in data sets
without user ids use their user types (evaluation only, the fit never reads them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from model.data import PreferencePair
from model.fitting import PairTensors
from model.heads import MixtureRewardModel
from model.accuracy import best_head, head_correct, mixture_correct

MAX_PRINTED_USERS = 25  # the printed table stops here; config.json keeps every user


def user_labels(pairs: Sequence[PreferencePair]) -> tuple[list[str | None], str]:
    """Each pair's user (None: none) and what a user is here."""
    if any(p.user_id is not None for p in pairs):
        return [p.user_id for p in pairs], "user_id"
    if any(p.user_type for p in pairs):
        return [f"{p.dataset}/{p.user_type}" if p.user_type else None for p in pairs], "user type (evaluation only)"
    return [None] * len(pairs), "none"


def accuracy(correct: torch.Tensor) -> float | None:
    return round(float(correct.float().mean()), 4) if len(correct) else None


def per_user_rows(
    model: MixtureRewardModel,
    baseline: MixtureRewardModel,
    val: tuple[Sequence[str | None], PairTensors],
    held: tuple[Sequence[str | None], PairTensors],
) -> list[dict[str, Any]]:
    val_users, val_tensors = val
    held_users, held_tensors = held
    val_heads, held_heads = head_correct(model, val_tensors), head_correct(model, held_tensors)  # (N, K)
    held_mixture, held_single = mixture_correct(model, held_tensors), mixture_correct(baseline, held_tensors)
    rows = []
    for user in sorted({u for u in (*val_users, *held_users) if u is not None}):
        in_val = torch.tensor([u == user for u in val_users], dtype=torch.bool)
        in_held = torch.tensor([u == user for u in held_users], dtype=torch.bool)
        n_val, n_held = int(in_val.sum()), int(in_held.sum())
        head = best_head(val_heads[in_val])[0] if n_val else None
        rows.append({
            "user": user,
            "n_validation": n_val,
            "n_held_out": n_held,
            "head": head,
            "best_head_accuracy": accuracy(held_heads[in_held][:, head]) if head is not None else None,
            "mixture_accuracy": accuracy(held_mixture[in_held]),
            "single_bt_accuracy": accuracy(held_single[in_held]),
        })
    return rows


def held_out_report(
    model: MixtureRewardModel,
    baseline: MixtureRewardModel,
    val: tuple[Sequence[PreferencePair], PairTensors],
    held: tuple[Sequence[PreferencePair], PairTensors],
) -> dict[str, Any]:
    """The table as a JSON-able dict (it goes into the checkpoint's config.json)."""
    (val_pairs, val_tensors), (held_pairs, held_tensors) = val, held
    val_users, kind = user_labels(val_pairs)
    held_users, _ = user_labels(held_pairs)
    rows = per_user_rows(model, baseline, (val_users, val_tensors), (held_users, held_tensors))
    scored = [r for r in rows if r["best_head_accuracy"] is not None and r["n_held_out"]]
    n_scored = sum(r["n_held_out"] for r in scored)
    return {
        "held_out_pairs": len(held_pairs),
        "validation_pairs": len(val_pairs),
        "single_bt_accuracy": accuracy(mixture_correct(baseline, held_tensors)),
        "mixture_accuracy": accuracy(mixture_correct(model, held_tensors)),
        "users": kind,
        "per_user": rows,
        "per_user_best_head_accuracy": (
            round(sum(r["best_head_accuracy"] * r["n_held_out"] for r in scored) / n_scored, 4) if n_scored else None
        ),
        "users_scored": len(scored),
        "held_out_pairs_scored_per_user": n_scored,
    }


def name_served_heads(report: dict[str, Any], served: MixtureRewardModel, val: tuple[Sequence[PreferencePair], PairTensors]) -> None:
    """Each user's row gets ``served_head``: the head of the *served* model (after the refit) that
    is right most often on the user's validation pairs, the number its model card names
    (``GET /v1/model``). The refit starts afresh, so its heads need not keep the held-out fit's numbers."""
    val_pairs, val_tensors = val
    users, _ = user_labels(val_pairs)
    correct = head_correct(served, val_tensors)
    for row in report["per_user"]:
        mask = torch.tensor([u == row["user"] for u in users], dtype=torch.bool)
        row["served_head"] = best_head(correct[mask])[0] if bool(mask.any()) else None


def mixture_advice(report: dict[str, Any], num_heads: int, grouped_by_user: bool) -> list[str]:
    """Lines of warning when the mixture does not beat the single head on held-out pairs (empty otherwise)."""
    mixture, single = report["mixture_accuracy"], report["single_bt_accuracy"]
    if num_heads < 2 or mixture is None or single is None or mixture > single:
        return []
    head = f"warning: the mixture ({fmt(mixture)}) does not beat the single Bradley-Terry head ({fmt(single)}) on " \
           f"{report['held_out_pairs']} held-out pairs"
    personal = report["per_user_best_head_accuracy"]
    if personal is not None and personal > single:
        return [f"{head} before it knows the user; each user's own head does ({fmt(personal)}): serve it with a few "
                "labels per user (POST /v1/feedback) before relying on a new user's reward"]
    tips = ["a larger file: a mixture needs a few hundred pairs per preference type",
            f"fewer heads (--heads {max(2, num_heads // 2)}), or --heads 1 to serve the single head"]
    if not grouped_by_user and report["users"] == "user_id":
        tips.insert(0, "--group-by user: your file names its users, and pairs of one user share one preference type")
    return [f"{head}, nor does a user's own head ({fmt(personal)}): personalization has little to work with. Try:",
            *(f"  - {tip}" for tip in tips)]


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def format_report(report: dict[str, Any], num_heads: int) -> list[str]:
    """The table as printed at the end of training."""
    lines = [
        (f"held-out pairwise accuracy ({report['held_out_pairs']} held-out pairs, never fit on; "
         f"early stopping on {report['validation_pairs']} validation pairs)"),
        f"  single Bradley-Terry head    {fmt(report['single_bt_accuracy'])}",
        f"  mixture, K={num_heads:<3}              {fmt(report['mixture_accuracy'])}",
    ]
    rows = report["per_user"]
    if not rows:
        return lines
    lines.append(
        f"per user ({report['users']}): head chosen on the user's validation pairs, scored on their held-out pairs"
    )
    lines.append(f"  {'user':<24} {'head':>4} {'n_val':>6} {'n_held':>6} {'best head':>9} {'mixture':>8} {'single BT':>9}")
    for r in rows[:MAX_PRINTED_USERS]:
        shown = r.get("served_head", r["head"])
        head = "-" if shown is None else str(shown)
        lines.append(
            f"  {str(r['user'])[:24]:<24} {head:>4} {r['n_validation']:>6} {r['n_held_out']:>6} "
            f"{fmt(r['best_head_accuracy']):>9} {fmt(r['mixture_accuracy']):>8} {fmt(r['single_bt_accuracy']):>9}"
        )
    if len(rows) > MAX_PRINTED_USERS:
        lines.append(f"  ... {len(rows) - MAX_PRINTED_USERS} more users in config.json")
    lines.append(
        f"  per-user best head, over {report['users_scored']} users with validation and held-out pairs "
        f"({report['held_out_pairs_scored_per_user']} pairs): {fmt(report['per_user_best_head_accuracy'])}"
    )
    if any("served_head" in r for r in rows):
        lines.append("  head: the served head the model card names for the user (GET /v1/model; after the refit on "
                     "all pairs); accuracies: the fit that held these pairs out")
    return lines
