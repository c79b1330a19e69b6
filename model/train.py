"""Stage-1 training CLI: read preference data (built-in data sets or your own files), embed it
once (cached), fit K heads + router on the MiCRo mixture likelihood with early stopping on a
validation slice, report held-out accuracy (single BT, mixture, per user), refit on all pairs,
write a checkpoint. Formats, errors and slices: docs/data.md.

    python -m model.train --data dsp,relabeled_hh --heads 8 --out checkpoints/default
    python -m model.train --data my_pairs.jsonl --data more/ --heads 4 --out checkpoints/mine

The defaults are the shipped checkpoint's recipe (docs/features.md#shipped): all hidden states of
the default backbone concatenated, K=10, alpha 0.1, weight decay 0.01, and, when the data names
its users, all of one user's pairs sharing one latent type (``--group-by user``).
``--heads 1`` is the single Bradley-Terry baseline; ``--router none`` the static mixture.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path

import torch

from model.backbone import Encoder
from model.backbone_args import add_backbone_arguments, encoder_from_args, expert_record
from model.checkpoint import CheckpointConfig, save_checkpoint
from model.feature_shards import FeatureShardError
from model.fitting import FitConfig, FitResult, fit_mixture
from model.head_cards import build_head_cards
from model.heldout_report import format_report, held_out_report, mixture_advice, name_served_heads
from model.pair_files import DataError
from model.paths import DEFAULT_CHECKPOINT, EMBEDDING_CACHE_DIR
from model.provenance import git_commit, package_versions
from model.refit import NoStepError, check_trained, refit_on_all
from model.routing import RoutingConfig
from model.accuracy import best_head_by_type, mixture_correct
from model.train_data import PreparedData, add_data_arguments, data_sources, prepare_data
from model.training_set import GROUP_BY, TrainingSet, embed_training_set


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def fit_with_progress(fit: TrainingSet, val: TrainingSet, cfg: FitConfig, label: str) -> FitResult:
    from tqdm import tqdm

    with tqdm(total=cfg.max_steps * max(1, cfg.restarts), desc=label, unit="step", dynamic_ncols=True) as bar:
        result = fit_mixture(fit.tensors, val.tensors, cfg, on_step=lambda: bar.update(1))
        bar.total = bar.n
    return result


def refit_with_progress(data: TrainingSet, cfg: FitConfig, picked: FitResult) -> FitResult:
    from tqdm import tqdm

    with tqdm(total=picked.steps, desc=f"refit on {len(data.pairs)} pairs", unit="step", dynamic_ncols=True) as bar:
        return refit_on_all(data.tensors, cfg, picked, on_step=lambda: bar.update(1))


def validation_metrics(result: FitResult, val: TrainingSet) -> dict:
    best = best_head_by_type(result.model, val.tensors, val.user_types)
    return {
        "val_nll": round(result.val_nll, 5),
        "val_mixture_accuracy": round(float(mixture_correct(result.model, val.tensors).float().mean()), 4),
        "val_best_head": {u: {"head": h, "accuracy": round(a, 4)} for u, (h, a) in best.items()},
        "val_best_head_mean": round(sum(a for _, a in best.values()) / max(1, len(best)), 4),
        "steps": result.steps,
        "restart": result.restart,
    }


def describe_heads(result: FitResult, val: TrainingSet) -> list[str]:
    """One line per head: the validation user type it agrees with most (evaluation only)."""
    from model.accuracy import head_correct, mean_by_type

    per_type = mean_by_type(head_correct(result.model, val.tensors), val.user_types)
    lines = []
    for k in range(result.model.num_heads):
        ranked = sorted(per_type.items(), key=lambda kv: -float(kv[1][k]))
        top = ", ".join(f"{u} {float(acc[k]):.2f}" for u, acc in ranked[:2])
        expert = " (the backbone's own score head, frozen expert)" if result.model.expert and k == result.model.num_heads - 1 else ""
        lines.append(f"head {k}{expert}: agrees most with {top} (validation pair accuracy)")
    return lines


def weights_version(model: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for tensor in model.state_dict().values():
        digest.update(tensor.detach().cpu().numpy().tobytes())
    return digest.hexdigest()[:12]


def build_config(args: argparse.Namespace, encoder: Encoder, result: FitResult, val: TrainingSet, n_fit: int) -> CheckpointConfig:
    return CheckpointConfig(
        backbone=encoder.info.record(),
        num_heads=result.model.num_heads,
        expert=expert_record(encoder, args.heads),
        dim=encoder.dim,
        router=args.router,
        version=f"k{args.heads}-{weights_version(result.model)}",
        routing=asdict(RoutingConfig(tau=args.tau, eta=args.eta, mode=args.routing_mode)),
        head_descriptions=describe_heads(result, val),
        training={
            "data": list(args.data),
            "split": "fit / validation / held-out slices by prompt hash (model/splits.py)",
            "pairs_fit": n_fit,
            "pairs_validation": len(val.pairs),
            "group_by": args.group_by,
            "group_by_asked": args.group_by_asked,
            "simulated_annotator_prompts": args.simulated_annotators,
            "fit": asdict(fit_config_of(args)),
            "seed": args.seed,
        },
        metrics=validation_metrics(result, val),
    )


def training_record(args: argparse.Namespace, prepared: PreparedData, picked: FitResult) -> dict:
    """What config.json keeps about the data, the refit and the code that ran."""
    return {
        "data_record": prepared.record(),
        "val_data": list(args.val_data or []),
        "user_column": args.user_column or "user_id",
        "strict": args.strict,
        "features_dir": str(args.features_dir) if args.features_dir else None,
        "refit": None if args.refit == "none" else
        {"on": args.refit, "pairs": len(prepared.refit_indices(args.refit) or []), "steps": picked.steps},
        "git": git_commit(),
        "packages": package_versions(),
    }


FLAGS_NAMED_AS_FIT_CONFIG = ("router", "alpha", "lr", "weight_decay", "max_steps", "patience", "seed")


def fit_config_of(args: argparse.Namespace) -> FitConfig:
    """The fit's settings from the CLI flags; most flags carry FitConfig's own field names."""
    return FitConfig(
        num_heads=args.heads,
        restarts=args.restarts if args.heads > 1 else 1,
        expert=args.keep_score_head,
        **{name: getattr(args, name) for name in FLAGS_NAMED_AS_FIT_CONFIG},
    )


# The shipped checkpoint's recipe, chosen on validation (docs/features.md#shipped): what a newcomer
# trains by default is what we ship. FitConfig keeps the library's own defaults.
SHIPPED_RECIPE = {"heads": 10, "alpha": 0.1, "weight_decay": 0.01, "layers_default_backbone": "all"}


def default_layers(args: argparse.Namespace) -> None:
    """The default backbone reads the shipped recipe's hidden states unless --layers says otherwise (another
    backbone: its last layer); python -m model.extract_features applies the same rule, so its features fit."""
    if args.layers is None and args.backbone is None and not args.keep_score_head:
        args.layers = SHIPPED_RECIPE["layers_default_backbone"]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    d, r = FitConfig(), RoutingConfig()
    p = argparse.ArgumentParser(prog="python -m model.train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_arguments(p)
    p.add_argument("--heads", type=int, default=SHIPPED_RECIPE["heads"], help="K reward heads (1 = single Bradley-Terry)")
    p.add_argument("--router", choices=["linear", "none"], default=d.router, help="none = static mixture")
    p.add_argument("--group-by", choices=("auto", *GROUP_BY), default="auto",
                   help="auto (default): user when any row names its user, else choice; choice: pairs sharing prompt "
                        "and preferred response share one latent type; pair: plain per-pair loss; user: all pairs of "
                        "one user id share one latent type")
    p.add_argument("--simulated-annotators", type=int, default=0, metavar="PROMPTS",
                   help="with --group-by user, built-in data (no user ids) is dealt to simulated annotators of this "
                        "many prompts per user type (model/annotators.py); 0 = off")
    p.add_argument("--alpha", type=float, default=SHIPPED_RECIPE["alpha"], help="entropy regulariser weight")
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--weight-decay", type=float, default=SHIPPED_RECIPE["weight_decay"])
    p.add_argument("--max-steps", type=int, default=d.max_steps)
    p.add_argument("--patience", type=int, default=d.patience)
    p.add_argument("--restarts", type=int, default=d.restarts)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tau", type=float, default=r.tau, help="online routing: Hedge temperature stored in the checkpoint")
    p.add_argument("--eta", type=float, default=r.eta, help="online routing: mirror-descent step stored in the checkpoint")
    p.add_argument("--routing-mode", choices=["mirror", "hedge"], default=r.mode)
    add_backbone_arguments(p)
    p.add_argument("--cache-dir", type=Path, default=EMBEDDING_CACHE_DIR)
    p.add_argument("--features-dir", type=Path, default=None,
                   help="read the pairs' features from this directory (python -m model.extract_features, one or many "
                        "processes; docs/training.md) instead of embedding them here")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all cores)")
    p.add_argument("--out", type=Path, default=DEFAULT_CHECKPOINT)
    args = p.parse_args(argv)
    if args.simulated_annotators and args.group_by not in ("user", "auto"):
        p.error("--simulated-annotators needs --group-by user")
    default_layers(args)
    if args.simulated_annotators < 0:
        p.error("--simulated-annotators must be 0 (off) or a number of prompts")
    args.data = data_sources(args.data)
    return args


def main(argv: Sequence[str] | None = None) -> None:
    """Exit 2, one line per problem and nothing written, on data that cannot be trained on."""
    args = parse_args(argv)
    try:
        train(args)
    except (DataError, NoStepError, FeatureShardError) as exc:
        for line in exc.problems if isinstance(exc, DataError) else [str(exc)]:
            print(f"error: {line}", file=sys.stderr)
        print(f"error: nothing written to {args.out}", file=sys.stderr)
        raise SystemExit(2) from None


def resolve_group_by(args: argparse.Namespace, pairs: Sequence) -> None:
    """``--group-by auto``: user when any pair names its user (or annotators are simulated), else choice."""
    args.group_by_asked = args.group_by
    if args.group_by == "auto":
        named = args.simulated_annotators > 0 or any(p.user_id is not None for p in pairs)
        args.group_by = "user" if named else "choice"
        print(f"--group-by auto: {args.group_by} ({'rows name their users' if named else 'no row names a user'}; "
              "--group-by choice ignores user ids)", file=sys.stderr)


def warn_on_annotator_groups(args: argparse.Namespace, data: TrainingSet) -> None:
    """--group-by user on data where no pair has an annotator falls back to choice groups: say so."""
    if args.group_by != "user":
        return
    named = sum(p.user_id is not None for p in data.pairs)
    groups = data.tensors.num_groups
    if not named and not args.simulated_annotators:
        print("warning: --group-by user, but no pair has a user id: every pair stays in its choice group "
              f"(name the column with --user-column, or --simulated-annotators N for the built-in data)", file=sys.stderr)
    else:
        print(f"annotator groups: {groups} latent-type groups over {len(data.pairs)} pairs", file=sys.stderr)


def train(args: argparse.Namespace) -> CheckpointConfig:
    if args.threads:
        torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    started = time.perf_counter()
    prepared = prepare_data(args.data, args.val_data, user_column=args.user_column, strict=args.strict,
                            data_root=args.data_root, system_as_context=args.system_as_context)
    resolve_group_by(args, prepared.pairs)
    encoder = encoder_from_args(args)
    data = embed_training_set(prepared.pairs, encoder, args.cache_dir, args.group_by, args.simulated_annotators,
                              args.features_dir)
    warn_on_annotator_groups(args, data)
    fit, val, held = data.slices(prepared)
    cfg = fit_config_of(args)
    result = fit_with_progress(fit, val, cfg, label=f"fit K={args.heads}")
    check_trained(result)
    baseline = result if args.heads == 1 else fit_with_progress(fit, val, replace(cfg, num_heads=1, restarts=1, expert=False), "fit single BT")
    report = held_out_report(result.model, baseline.model, (val.pairs, val.tensors), (held.pairs, held.tensors))
    refit_on = prepared.refit_indices(args.refit)
    final = result if refit_on is None else refit_with_progress(data.take(torch.tensor(refit_on, dtype=torch.long)), cfg, result)
    name_served_heads(report, final.model, (val.pairs, val.tensors))
    config = build_config(args, encoder, final, val, len(fit.pairs))
    config.metrics = {**validation_metrics(result, val), "held_out": report}  # figures of the fit that held them out
    expert_head = config.expert["head"] if config.expert else None
    config.head_cards = build_head_cards(final.model, val.tensors, val.user_types, data.pairs, data.tensors, expert_head)
    config.training.update(training_record(args, prepared, result), seconds=round(time.perf_counter() - started, 1))
    save_checkpoint(args.out, final.model, config)
    print("\n".join(format_report(report, result.model.num_heads)))
    for line in mixture_advice(report, result.model.num_heads, args.group_by == "user"):
        print(line, file=sys.stderr)
    summary = {k: v for k, v in config.metrics.items() if k not in ("held_out", "val_best_head")}
    print(json.dumps({"checkpoint": str(args.out), "version": config.version, **summary}, indent=2))
    return config


if __name__ == "__main__":
    main()
