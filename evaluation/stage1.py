"""Stage-1 comparison on the test split: single BT, static mixture, MiCRo (router weights and
best head per user type), plain per-pair MiCRo, and a supervised per-type head (reference).

Writes a markdown report (docs/results.md) with the command that reproduces it.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import torch

from model.backbone import Encoder
from model.fitting import FitConfig, FitResult
from model.scoring import best_head_accuracy, head_correct, mean_by_type, mixture_correct
from model.train import TrainingSet, fit_config_of, fit_with_progress, load_training_set, parse_args


def per_type(values: dict[str, torch.Tensor]) -> dict[str, float]:
    return {u: float(v.max()) if v.ndim else float(v) for u, v in values.items()}


def mean(d: dict[str, float]) -> float:
    return sum(d.values()) / max(1, len(d))


def evaluate(result: FitResult, test: TrainingSet) -> dict[str, dict[str, float]]:
    types = test.user_types
    return {
        "mixture": per_type(mean_by_type(mixture_correct(result.model, test.tensors), types)),
        "best_head": best_head_accuracy(result.model, test.tensors, types),
    }


def supervised_reference(fit: TrainingSet, val: TrainingSet, test: TrainingSet, base: FitConfig) -> dict[str, float]:
    """One head trained on each user type's own train pairs: uses the labels MiCRo never sees."""
    out = {}
    cfg = replace(base, num_heads=1, restarts=1)
    for u in sorted(set(test.user_types)):
        result = fit_with_progress(only_type(fit, u), only_type(val, u), cfg, label=f"supervised {u}")
        rows = torch.tensor([t == u for t in test.user_types])
        out[u] = float(head_correct(result.model, test.tensors)[rows].float().mean())
    return out


def only_type(s: TrainingSet, user_type: str) -> TrainingSet:
    return s.take(torch.tensor([i for i, t in enumerate(s.user_types) if t == user_type]))


def ungrouped(s: TrainingSet) -> TrainingSet:
    t = replace(s.tensors, group=torch.arange(len(s.pairs)))
    return TrainingSet(s.pairs, t)


def dataset_means(vals: dict[str, float]) -> dict[str, float]:
    """Mean over the user types of each dataset (keys are dataset/user_type)."""
    names = sorted({t.split("/")[0] for t in vals})
    return {n: mean({t: v for t, v in vals.items() if t.startswith(n + "/")}) for n in names}


def render(rows: dict[str, dict[str, float]], types: list[str]) -> list[str]:
    datasets = sorted({t.split("/")[0] for t in types})
    header = "| method | " + " | ".join(t.split("/")[1] for t in types) + " | " + " | ".join(f"{d} mean" for d in datasets) + " |"
    lines = [header, "|" + "---|" * (len(types) + len(datasets) + 1)]
    for name, vals in rows.items():
        cells = " | ".join(f"{vals[t]:.3f}" for t in types)
        means = " | ".join(f"{m:.3f}" for m in dataset_means(vals).values())
        lines.append(f"| {name} | {cells} | {means} |")
    return lines


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m evaluation.stage1", description=__doc__)
    p.add_argument("--heads-sweep", default="2,4,6,8,10")
    p.add_argument("--report", type=Path, default=Path("docs/results.md"))
    own, rest = p.parse_known_args(argv)
    args = parse_args(rest)
    started = time.perf_counter()
    encoder = Encoder(args.backbone, backbone_id=args.backbone_id, pooling=args.pooling, max_length=args.max_length)
    datasets = args.data
    train = load_training_set(datasets, encoder, args.cache_dir, args.data_root, "train", args.group_by)
    test = load_training_set(datasets, encoder, args.cache_dir, args.data_root, "test", "pair")
    fit, val = train.split_validation()
    types = sorted(set(test.user_types))
    base = fit_config_of(args)

    sweep: dict[int, tuple[FitResult, dict]] = {}
    for k in [int(x) for x in own.heads_sweep.split(",")]:
        result = fit_with_progress(fit, val, replace(base, num_heads=k), label=f"MiCRo K={k}")
        val_best = mean(best_head_accuracy(result.model, val.tensors, val.user_types))
        sweep[k] = (result, {"val_nll": result.val_nll, "val_best_head": val_best, **evaluate(result, test)})
    chosen = max(sweep, key=lambda k: sweep[k][1]["val_best_head"])  # model selection on validation only
    k_cfg = replace(base, num_heads=chosen)

    single = fit_with_progress(fit, val, replace(base, num_heads=1, restarts=1), label="single BT")
    static = fit_with_progress(fit, val, replace(k_cfg, router="none"), label=f"static K={chosen}")
    plain = fit_with_progress(ungrouped(fit), ungrouped(val), k_cfg, label=f"per-pair MiCRo K={chosen}")
    rows = {
        "single BT (K=1)": evaluate(single, test)["mixture"],
        f"static mixture, fixed weights (K={chosen})": evaluate(static, test)["mixture"],
        f"MiCRo, router weights, no user labels (K={chosen})": sweep[chosen][1]["mixture"],
        f"MiCRo, best head per user type (K={chosen})": sweep[chosen][1]["best_head"],
        f"per-pair MiCRo loss (no choice groups), best head (K={chosen})": evaluate(plain, test)["best_head"],
        "reference: one head per user type, trained WITH user types": supervised_reference(fit, val, test, base),
    }
    write_report(own.report, argv, rows, types, sweep, chosen, time.perf_counter() - started, len(fit.pairs), len(val.pairs), len(test.pairs))


def write_report(path, argv, rows, types, sweep, chosen, seconds, n_fit, n_val, n_test) -> None:
    command = "python -m evaluation.stage1" + ("" if not argv else " " + " ".join(argv))
    lines = [
        "# Stage-1 results (test split)",
        "",
        "Reproduce (about 10 minutes on 2 CPU cores once embeddings are cached):",
        "",
        f"    .venv/bin/{command}",
        "",
        f"Pairwise accuracy on the **test split** ({n_test} pairs) per user type. Training used the train split "
        f"({n_fit} pairs to fit, {n_val} validation pairs held out by prompt hash). User types are never seen by "
        "the MiCRo fit; they only label the evaluation. K is chosen by the best-head mean on the *validation* slice.",
        "",
        *render(rows, types),
        "",
        "## K sweep",
        "",
        "| K | validation NLL | validation best-head mean | test best-head mean per dataset | test router-weights mean per dataset |",
        "|---|---|---|---|---|",
    ]
    for k, (_, m) in sorted(sweep.items()):
        mark = " (chosen)" if k == chosen else ""
        best = ", ".join(f"{d} {v:.3f}" for d, v in dataset_means(m["best_head"]).items())
        mix = ", ".join(f"{d} {v:.3f}" for d, v in dataset_means(m["mixture"]).items())
        lines.append(f"| {k}{mark} | {m['val_nll']:.4f} | {m['val_best_head']:.3f} | {best} | {mix} |")
    lines += ["", f"Measured in {seconds / 60:.1f} minutes (2 CPU cores), embeddings cached.", ""]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
