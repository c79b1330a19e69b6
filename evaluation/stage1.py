"""Stage-1 comparison on the test split: single BT, static mixture, MiCRo (router weights, and
each user type's head chosen on validation), plain per-pair MiCRo, and a supervised per-type
head (reference). The head chosen on the test labels themselves is an oracle (optimistic by
construction): it appears only labelled so, beside the honest figure. Dataset means carry a
95 % bootstrap interval over test prompts.

Writes a markdown report (docs/results.md) with the command that reproduces it.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import torch

from evaluation.bootstrap import Interval, prompt_bootstrap
from model.backbone import Encoder
from model.backbone_args import parse_layers
from model.fitting import FitConfig, FitResult
from model.heads import MixtureRewardModel
from model.scoring import best_head_by_type, head_correct, mean_by_type, mixture_correct
from model.train import fit_config_of, fit_with_progress, parse_args
from model.training_set import TrainingSet, load_training_set


def per_type(values: dict[str, torch.Tensor]) -> dict[str, float]:
    return {u: float(v.max()) if v.ndim else float(v) for u, v in values.items()}


def mean(d: dict[str, float]) -> float:
    return sum(d.values()) / max(1, len(d))


def chosen_head_correct(model: MixtureRewardModel, choose_on: TrainingSet, test: TrainingSet) -> torch.Tensor:
    """(N_test,) 1/0: each test pair judged by its user type's head, chosen on ``choose_on``."""
    heads = {u: h for u, (h, _) in best_head_by_type(model, choose_on.tensors, choose_on.user_types).items()}
    correct = head_correct(model, test.tensors)  # (N, K)
    picked = torch.tensor([heads[u] for u in test.user_types])
    return correct[torch.arange(len(test.pairs)), picked].float()


def evaluate(model: MixtureRewardModel, val: TrainingSet, test: TrainingSet) -> dict[str, torch.Tensor]:
    """Per test pair 1/0 outcomes: router weights; head chosen on validation; head chosen on test (oracle)."""
    return {
        "mixture": mixture_correct(model, test.tensors).float(),
        "val_head": chosen_head_correct(model, val, test),
        "oracle_head": chosen_head_correct(model, test, test),
    }


def type_means(outcomes: torch.Tensor, test: TrainingSet) -> dict[str, float]:
    return per_type(mean_by_type(outcomes, test.user_types))


def supervised_reference(fit: TrainingSet, val: TrainingSet, test: TrainingSet, base: FitConfig) -> torch.Tensor:
    """One head trained on each user type's own train pairs: uses the labels MiCRo never sees."""
    out = torch.zeros(len(test.pairs))
    cfg = replace(base, num_heads=1, restarts=1)
    for u in sorted(set(test.user_types)):
        result = fit_with_progress(only_type(fit, u), only_type(val, u), cfg, label=f"supervised {u}")
        rows = torch.tensor([t == u for t in test.user_types])
        out[rows] = head_correct(result.model, test.tensors)[rows, 0].float()
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


def dataset_intervals(outcomes: torch.Tensor, test: TrainingSet) -> dict[str, Interval]:
    """Dataset -> mean over its user types, 95 % bootstrap interval over test prompts."""
    types = test.user_types
    out = {}
    for name in sorted({t.split("/")[0] for t in types}):
        idx = [i for i, t in enumerate(types) if t.startswith(name + "/")]
        out[name] = prompt_bootstrap(outcomes[idx], [test.pairs[i].prompt for i in idx], [types[i] for i in idx])
    return out


def render(rows: dict[str, torch.Tensor], test: TrainingSet) -> list[str]:
    types = sorted(set(test.user_types))
    datasets = sorted({t.split("/")[0] for t in types})
    header = ("| method | " + " | ".join(t.split("/")[1] for t in types) + " | "
              + " | ".join(f"{d} mean [95 % CI]" for d in datasets) + " |")
    lines = [header, "|" + "---|" * (len(types) + len(datasets) + 1)]
    for name, outcomes in rows.items():
        vals = type_means(outcomes, test)
        cells = " | ".join(f"{vals[t]:.3f}" for t in types)
        means = " | ".join(str(i) for i in dataset_intervals(outcomes, test).values())
        lines.append(f"| {name} | {cells} | {means} |")
    return lines


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m evaluation.stage1", description=__doc__)
    p.add_argument("--heads-sweep", default="2,4,6,8,10")
    p.add_argument("--report", type=Path, default=Path("docs/results.md"))
    own, rest = p.parse_known_args(argv)
    args = parse_args(rest)
    started = time.perf_counter()
    encoder = Encoder(args.backbone, backbone_id=args.backbone_id, pooling=args.pooling, max_length=args.max_length,
                      layers=parse_layers(args.layers, args.backbone), layer_combine=args.layer_combine)
    datasets = args.data
    train = load_training_set(datasets, encoder, args.cache_dir, args.data_root, "train", args.group_by)
    test = load_training_set(datasets, encoder, args.cache_dir, args.data_root, "test", "pair")
    fit, val = train.split_validation()
    base = fit_config_of(args)

    sweep: dict[int, tuple[FitResult, dict]] = {}
    for k in [int(x) for x in own.heads_sweep.split(",")]:
        result = fit_with_progress(fit, val, replace(base, num_heads=k), label=f"MiCRo K={k}")
        val_best = mean({u: a for u, (_, a) in best_head_by_type(result.model, val.tensors, val.user_types).items()})
        sweep[k] = (result, {"val_nll": result.val_nll, "val_best_head": val_best, **evaluate(result.model, val, test)})
    chosen = max(sweep, key=lambda k: sweep[k][1]["val_best_head"])  # model selection on validation only
    k_cfg = replace(base, num_heads=chosen)

    single = fit_with_progress(fit, val, replace(base, num_heads=1, restarts=1), label="single BT")
    static = fit_with_progress(fit, val, replace(k_cfg, router="none"), label=f"static K={chosen}")
    plain = fit_with_progress(ungrouped(fit), ungrouped(val), k_cfg, label=f"per-pair MiCRo K={chosen}")
    plain_eval = evaluate(plain.model, val, test)
    rows = {
        "single BT (K=1)": evaluate(single.model, val, test)["mixture"],
        f"static mixture, fixed weights (K={chosen})": evaluate(static.model, val, test)["mixture"],
        f"MiCRo, router weights, no user labels (K={chosen})": sweep[chosen][1]["mixture"],
        f"**MiCRo, head per user type chosen on validation (K={chosen})**": sweep[chosen][1]["val_head"],
        f"oracle (optimistic): MiCRo, head per user type chosen on the test labels (K={chosen})": sweep[chosen][1]["oracle_head"],
        f"per-pair MiCRo loss (no choice groups), head chosen on validation (K={chosen})": plain_eval["val_head"],
        f"oracle (optimistic): per-pair MiCRo loss, head chosen on test (K={chosen})": plain_eval["oracle_head"],
        "reference: one head per user type, trained WITH user types": supervised_reference(fit, val, test, base),
    }
    write_report(own.report, argv, rows, test, sweep, chosen, time.perf_counter() - started, len(fit.pairs), len(val.pairs))


def write_report(path, argv, rows, test, sweep, chosen, seconds, n_fit, n_val) -> None:
    command = "python -m evaluation.stage1" + ("" if not argv else " " + " ".join(argv))
    lines = [
        "# Stage-1 results (test split)",
        "",
        "Reproduce (about 10 minutes on 2 CPU cores once embeddings are cached):",
        "",
        f"    .venv/bin/{command}",
        "",
        f"Pairwise accuracy on the **test split** ({len(test.pairs)} pairs) per user type. Training used the train split "
        f"({n_fit} pairs to fit, {n_val} validation pairs held out by prompt hash). User types are never seen by "
        "the MiCRo fit; they only label the evaluation. K, and each user type's head, are chosen on the *validation* "
        "slice; rows marked **oracle** choose the head on the test labels themselves (optimistic by construction) and "
        "are shown only beside the honest figure. Dataset means: mean over the data set's user types, with a 95 % "
        "bootstrap interval over test prompts (a prompt's pairs resampled together).",
        "",
        *render(rows, test),
        "",
        "## K sweep",
        "",
        "| K | validation NLL | validation best-head mean | test, head chosen on validation, per dataset | "
        "test oracle head per dataset | test router-weights mean per dataset |",
        "|---|---|---|---|---|---|",
    ]
    for k, (_, m) in sorted(sweep.items()):
        mark = " (chosen)" if k == chosen else ""
        cells = [", ".join(f"{d} {v:.3f}" for d, v in dataset_means(type_means(m[key], test)).items())
                 for key in ("val_head", "oracle_head", "mixture")]
        lines.append(f"| {k}{mark} | {m['val_nll']:.4f} | {m['val_best_head']:.3f} | " + " | ".join(cells) + " |")
    lines += ["", f"Measured in {seconds / 60:.1f} minutes (2 CPU cores), embeddings cached.", ""]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
