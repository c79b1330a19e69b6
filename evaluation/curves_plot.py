"""Learning-curve plots (matplotlib, PNG), one figure per dataset, one panel per user type."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch


def plot_curves(
    curves: dict[str, dict[str, torch.Tensor]],
    single_bt: dict[str, float],
    ceiling: dict[str, float],
    ns: Sequence[int],
    out_dir: Path,
) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    types = sorted(single_bt)
    paths = []
    for dataset in sorted({t.split("/")[0] for t in types}):
        mine = [t for t in types if t.startswith(dataset + "/")]
        fig, axes = plt.subplots(1, len(mine), figsize=(4.2 * len(mine), 3.6), sharey=True, squeeze=False)
        for ax, u in zip(axes[0], mine):
            x = list(ns)
            for name, per_type in curves.items():
                c = per_type[u]
                mean, std = c.mean(0).numpy(), c.std(0).numpy()
                ax.plot(x, mean, label=name)
                ax.fill_between(x, mean - std, mean + std, alpha=0.15)
            ax.axhline(single_bt[u], color="grey", linestyle=":", label="single BT")
            ax.axhline(ceiling[u], color="black", linestyle="--", label="stage-1 head chosen on validation")
            ax.set_xscale("symlog", linthresh=1)
            ax.set_xlim(0, max(x))
            ax.set_title(u.split("/")[1])
            ax.set_xlabel("labels from this user")
            ax.grid(alpha=0.3)
        axes[0][0].set_ylabel("pairwise accuracy (test split)")
        axes[0][-1].legend(fontsize=7, loc="lower right")
        fig.suptitle(f"{dataset}: fresh users learning online")
        fig.tight_layout()
        path = out_dir / f"curves_{dataset}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths
