"""Which hidden states the heads should read, chosen on validation: the last layer, a selection
concatenated, all layers concatenated, or their mean. Every candidate is a slice of one stored
stack of pooled hidden states (one forward pass per text, model/embedding_cache.py).

For each candidate: MiCRo K heads fitted on the fit slice of train (shipped fit defaults), each
user type's head chosen on the validation slice, that head scored on test (honest), next to
the test-chosen head (oracle, labelled so). Intervals: 95 % bootstrap over test prompts.

    python -m evaluation.features_choice [--candidates last,2-4-6,all,mean-all] [--seeds 0]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from evaluation.bootstrap import Interval, prompt_bootstrap
from model.backbone import Encoder
from model.data import load_pairs
from model.features import embed_pair_layers, select_layers
from model.fitting import FitConfig, fit_mixture
from model.paths import EMBEDDING_CACHE_DIR, REPO_ROOT
from model.scoring import best_head_by_type, head_correct
from model.training_set import TrainingSet, group_ids

# name -> (hidden-state indices, combine); 0 is the embeddings output, 6 the last of MiniLM's layers
CANDIDATES = {
    "last": (None, "concat"),
    "2-4-6": ((2, 4, 6), "concat"),
    "all": (tuple(range(7)), "concat"),
    "mean-all": (tuple(range(7)), "mean"),
}


@dataclass
class Candidate:
    name: str
    seed: int
    val_mean: float  # validation best-head mean over every user type (the choice criterion)
    honest: dict[str, Interval]  # dataset -> test accuracy of the heads chosen on validation
    oracle: dict[str, float]  # dataset -> test accuracy of the heads chosen on test (optimistic)
    per_type: dict[str, float]  # user type -> honest test accuracy
    seconds: float


def stacked_set(datasets: list[str], encoder: Encoder, cache_dir: Path, split: str, group_by: str) -> TrainingSet:
    pairs = load_pairs(datasets, split=split)  # type: ignore[arg-type]
    tensors = embed_pair_layers(pairs, encoder, cache_dir)
    tensors.group = group_ids(pairs, group_by)
    tensors.__post_init__()
    return TrainingSet(pairs, tensors)


def sliced(s: TrainingSet, layers, combine) -> TrainingSet:
    t = select_layers(s.tensors, layers, combine)
    t.group = s.tensors.group
    return TrainingSet(s.pairs, t)


def honest_heads(model, val: TrainingSet, test: TrainingSet) -> tuple[torch.Tensor, torch.Tensor]:
    """(N_test,) correctness of each pair's validation-chosen head, and of its test-chosen head."""
    chosen = {u: h for u, (h, _) in best_head_by_type(model, val.tensors, val.user_types).items()}
    oracle = {u: h for u, (h, _) in best_head_by_type(model, test.tensors, test.user_types).items()}
    correct = head_correct(model, test.tensors)  # (N, K)
    rows = torch.arange(len(test.pairs))
    pick = lambda heads: correct[rows, torch.tensor([heads[u] for u in test.user_types])]  # noqa: E731
    return pick(chosen).float(), pick(oracle).float()


def by_dataset(values: torch.Tensor, test: TrainingSet) -> dict[str, Interval]:
    out = {}
    types = test.user_types
    for name in sorted({t.split("/")[0] for t in types}):
        idx = [i for i, t in enumerate(types) if t.startswith(name + "/")]
        out[name] = prompt_bootstrap(values[idx], [test.pairs[i].prompt for i in idx], [types[i] for i in idx])
    return out


def run_candidate(name: str, train: TrainingSet, test: TrainingSet, cfg: FitConfig, save: Path | None = None) -> Candidate:
    started = time.perf_counter()
    layers, combine = CANDIDATES[name]
    tr, te = sliced(train, layers, combine), sliced(test, layers, combine)
    fit, val = tr.split_validation()
    result = fit_mixture(fit.tensors, val.tensors, cfg)
    val_best = best_head_by_type(result.model, val.tensors, val.user_types)
    honest, oracle = honest_heads(result.model, val, te)
    if save is not None:
        save_candidate(save / f"{name}-seed{cfg.seed}", name, result, val, cfg, sorted({p.dataset for p in train.pairs}))
    per_type = {u: float(honest[[i for i, t in enumerate(te.user_types) if t == u]].mean()) for u in sorted(set(te.user_types))}
    return Candidate(
        name=name, seed=cfg.seed, val_mean=sum(a for _, a in val_best.values()) / len(val_best),
        honest=by_dataset(honest, te), oracle={d: i.value for d, i in by_dataset(oracle, te).items()},
        per_type=per_type, seconds=time.perf_counter() - started,
    )


def save_candidate(directory: Path, name: str, result, val: TrainingSet, cfg: FitConfig, datasets: list[str]) -> None:
    """The candidate's fitted heads as a checkpoint (for the online evaluation of these features)."""
    from dataclasses import asdict

    from model.checkpoint import CheckpointConfig, save_checkpoint
    from model.train import validation_metrics, weights_version

    layers, combine = CANDIDATES[name]
    info = Encoder(layers=layers, layer_combine=combine).info
    config = CheckpointConfig(
        backbone=info.record(), num_heads=result.model.num_heads, dim=info.dim, version=f"{name}-{weights_version(result.model)}",
        training={"data": datasets, "split": "fit slice of train (validation slice held out by prompt hash)",
                  "pairs_fit": None, "pairs_validation": len(val.pairs), "group_by": "choice", "fit": asdict(cfg)},
        metrics=validation_metrics(result, val),
    )
    save_checkpoint(directory, result.model, config)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m evaluation.features_choice", description=__doc__)
    p.add_argument("--data", default="dsp,relabeled_hh")
    p.add_argument("--candidates", default=",".join(CANDIDATES))
    p.add_argument("--seeds", default="0")
    p.add_argument("--heads", type=int, default=10)
    p.add_argument("--cache-dir", type=Path, default=EMBEDDING_CACHE_DIR)
    p.add_argument("--json", type=Path, default=None, help="also write the raw figures here")
    p.add_argument("--save", type=Path, default=None, help="save each candidate's fitted heads under this folder")
    p.add_argument("--report", type=Path, default=REPO_ROOT / "docs" / "features.md")
    args = p.parse_args(argv)
    encoder = Encoder()
    datasets = args.data.split(",")
    train = stacked_set(datasets, encoder, args.cache_dir, "train", "choice")
    test = stacked_set(datasets, encoder, args.cache_dir, "test", "pair")
    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        for name in args.candidates.split(","):
            rows.append(run_candidate(name, train, test, FitConfig(num_heads=args.heads, seed=seed), args.save))
            print(render_row(rows[-1]), flush=True)
    if args.json:
        args.json.write_text(json.dumps([row_record(r) for r in rows], indent=1), encoding="utf-8")
    write_report(args.report, rows, sys.argv[1:] if argv is None else argv, args.heads, datasets)


def row_record(r: Candidate) -> dict:
    return {"name": r.name, "seed": r.seed, "val_mean": r.val_mean, "oracle": r.oracle, "per_type": r.per_type,
            "honest": {d: [i.value, i.low, i.high] for d, i in r.honest.items()}, "seconds": r.seconds}


def render_row(r: Candidate) -> str:
    honest = " | ".join(f"{i}" for i in r.honest.values())
    oracle = " | ".join(f"{v:.3f}" for v in r.oracle.values())
    return f"| {r.name} | {r.seed} | {r.val_mean:.3f} | {honest} | {oracle} | {r.seconds:.0f} s |"


def write_report(path: Path, rows: list[Candidate], argv, heads: int, data: list[str]) -> None:
    datasets = list(rows[0].honest)
    command = "python -m evaluation.features_choice" + ("" if not argv else " " + " ".join(argv))
    by_name: dict[str, list[float]] = {}
    for r in rows:
        by_name.setdefault(r.name, []).append(r.val_mean)
    chosen = max(by_name, key=lambda n: sum(by_name[n]) / len(by_name[n]))
    lines = [
        "# Features: which hidden states the heads read (chosen on validation)", "",
        f"    .venv/bin/{command}", "",
        f"MiCRo K={heads}, shipped fit defaults, fitted on the fit slice of train ({' + '.join(data)}). "
        "Each user type's head is chosen on the validation slice of train and scored on the test split "
        "(honest, with a 95 % bootstrap interval over test prompts); the head chosen on test itself is the "
        "**oracle** (optimistic by construction), shown only beside it.", "",
        "| features | fit seed | validation best-head mean (criterion) | "
        + " | ".join(f"{d} test, head chosen on validation [95 % CI]" for d in datasets) + " | "
        + " | ".join(f"{d} test, oracle head" for d in datasets) + " | fit time |",
        "|" + "---|" * (4 + 2 * len(datasets)),
        *[render_row(r) for r in rows], "",
        f"Chosen on validation: **{chosen}** (names: last = the last layer, 384-d; 2-4-6 = hidden states 2, 4 and 6 "
        "concatenated, 1152-d; all = all 7 concatenated, 2688-d; mean-all = the mean of the 7, 384-d).", "",
        "Per user type, head chosen on validation, test accuracy:", "",
        "| features | seed | " + " | ".join(t.split("/")[1] for t in rows[0].per_type) + " |",
        "|" + "---|" * (2 + len(rows[0].per_type)),
        *[f"| {r.name} | {r.seed} | " + " | ".join(f"{v:.3f}" for v in r.per_type.values()) + " |" for r in rows], "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
