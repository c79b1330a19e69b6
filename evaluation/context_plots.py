"""Plots of python -m evaluation.context_curves (matplotlib, PNG): accuracy against labels per user
type with and without a stated preference, and how one new user's weights move."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from model.data import load_dsp_items, load_pairs
from model.features import embed_pairs, embed_texts, router_text
from model.personal_scoring import with_stated_context
from model.routing import NEUTRAL_CONTEXT, RoutingConfig, update_offset


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_context_curves(figures: dict, ns: Sequence[int], out_dir: Path) -> list[Path]:
    """One figure per data set, one panel per user type: value and 95 % interval per condition."""
    plt = _plt()
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for dataset in sorted({k.split("/")[0] for k in figures}):
        keys = [k for k in figures if k.startswith(dataset + "/")]
        fig, axes = plt.subplots(1, len(keys), figsize=(3.6 * len(keys), 3.3), sharey=True, squeeze=False)
        for ax, key in zip(axes[0], keys):
            for cond, rows in figures[key].items():
                v, lo, hi = (torch.tensor([r[i] for r in rows]).numpy() for i in range(3))
                ax.plot(list(ns), v, marker="o", label=cond)
                ax.fill_between(list(ns), lo, hi, alpha=0.2)
            ax.set_xscale("symlog", linthresh=1)
            ax.set_title(key.split("/", 1)[1])
            ax.set_xlabel("labels from this user")
            ax.grid(alpha=0.3)
        axes[0][0].set_ylabel("pairwise accuracy (test)")
        axes[0][-1].legend(fontsize=8, loc="lower right")
        fig.suptitle(f"{dataset}: a new user, with and without a stated preference")
        fig.tight_layout()
        path = out_dir / f"context_{dataset}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def plot_weight_moves(model, routing: RoutingConfig, encoder, cache_dir: Path, statements: dict[str, list[str]],
                      out_dir: Path, domain: str = "business") -> Path:
    """One DSP test prompt, one new user of ``domain``: the weights over heads with nothing said, after
    stating the preference (the first test statement), and after 1, 5 and 10 of the type's train labels
    (on top of the statement). Beside it: the new user's weights on the first red-teaming test prompt of HH."""
    plt = _plt()
    item = load_dsp_items(split="test")[0]
    statement = statements[f"dsp/{domain}"][0]
    labels = [q for q in load_pairs(["dsp"], split="train") if q.user_type == domain][::37][:10]
    red = next(q for q in load_pairs(["relabeled_hh"], split="test") if q.user_type == "harmless")
    with torch.no_grad():
        p = embed_texts([router_text(item.prompt), router_text(item.prompt, statement), router_text(red.prompt)],
                        encoder, cache_dir, router=True)
        logits = routing.prior_strength * model.router(p)  # (3, K)
        c = with_stated_context(model, embed_texts([statement, NEUTRAL_CONTEXT], encoder, cache_dir), None, routing)
        t = embed_pairs(labels, encoder, cache_dir, progress=False)
        rc, rr, lp = model.rewards(t.chosen), model.rewards(t.rejected), routing.prior_strength * model.router(t.prompt)
    rows = {"new user": torch.softmax(logits[0], -1), f"states {domain}": torch.softmax(logits[1] + c, -1)}
    offset = c.clone()
    for n in range(1, len(labels) + 1):
        offset = update_offset(offset, lp[n - 1], rc[n - 1], rr[n - 1], routing)
        if n in (1, 5, 10):
            rows[f"+{n} label{'s' if n > 1 else ''}"] = torch.softmax(logits[1] + offset, -1)
    rows["new user, red-teaming prompt (HH)"] = torch.softmax(logits[2], -1)
    fig, ax = plt.subplots(figsize=(9, 3.6))
    bottom = torch.zeros(len(rows))
    names = list(rows)
    for k in range(model.num_heads):
        vals = torch.stack([rows[n][k] for n in names])
        ax.bar(range(len(names)), vals.numpy(), bottom=bottom.numpy(), label=f"head {k}")
        bottom += vals
    ax.set_xticks(range(len(names)), names, rotation=15, fontsize=8)
    ax.set_ylabel("mixture weight")
    ax.set_title(f"How a new {domain} user's weights move (one DSP test prompt)")
    ax.legend(fontsize=6, ncol=2, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "context_weights.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
