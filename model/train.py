"""Stage-1 training CLI: embed the train split once (cached), fit K heads + router on the
MiCRo mixture likelihood, early-stop on a validation slice of train, write a checkpoint.

    python -m model.train --data dsp,relabeled_hh --heads 8 --out checkpoints/default

``--heads 1`` is the single Bradley-Terry baseline; ``--router none`` the static mixture.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from model.backbone import Encoder
from model.checkpoint import CheckpointConfig, save_checkpoint
from model.data import PreferencePair, default_data_root, is_validation, load_pairs
from model.features import embed_pairs
from model.fitting import FitConfig, FitResult, PairTensors, fit_mixture
from model.paths import DEFAULT_CHECKPOINT, EMBEDDING_CACHE_DIR
from model.routing import RoutingConfig
from model.scoring import best_head_by_type, mixture_correct



@dataclass
class TrainingSet:
    pairs: list[PreferencePair]
    tensors: PairTensors

    def split_validation(self) -> tuple[TrainingSet, TrainingSet]:
        """Fit / validation slices of the train split (by prompt hash: a prompt's pairs stay together)."""
        val = torch.tensor([is_validation(p.prompt) for p in self.pairs])
        return self.take((~val).nonzero().squeeze(1)), self.take(val.nonzero().squeeze(1))

    def take(self, idx: torch.Tensor) -> TrainingSet:
        return TrainingSet([self.pairs[i] for i in idx.tolist()], self.tensors.subset(idx))

    @property
    def user_types(self) -> list[str]:
        return [f"{p.dataset}/{p.user_type}" for p in self.pairs]


def group_ids(pairs: Sequence[PreferencePair], group_by: str) -> torch.Tensor:
    """Pairs sharing a prompt and a preferred response are one best-of-N choice ("choice"),
    or every pair stands alone ("pair", the plain per-pair MiCRo likelihood)."""
    if group_by == "pair":
        return torch.arange(len(pairs))
    if group_by != "choice":
        raise ValueError(f"--group-by must be choice or pair, not {group_by!r}")
    keys: dict[tuple[str, str], int] = {}
    return torch.tensor([keys.setdefault((p.prompt, p.chosen), len(keys)) for p in pairs])


def load_training_set(
    datasets: Sequence[str], encoder: Encoder, cache_dir: Path, data_root: Path | None, split: str, group_by: str
) -> TrainingSet:
    pairs = load_pairs(datasets, data_root, split=split)  # type: ignore[arg-type]
    if not pairs:
        raise SystemExit(f"no preference pairs in {datasets} ({split} split) under {data_root or default_data_root()}")
    tensors = embed_pairs(pairs, encoder, cache_dir)
    tensors.group = group_ids(pairs, group_by)
    tensors.__post_init__()
    return TrainingSet(pairs, tensors)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def fit_with_progress(fit: TrainingSet, val: TrainingSet, cfg: FitConfig, label: str) -> FitResult:
    from tqdm import tqdm

    with tqdm(total=cfg.max_steps * max(1, cfg.restarts), desc=label, unit="step", dynamic_ncols=True) as bar:
        result = fit_mixture(fit.tensors, val.tensors, cfg, on_step=lambda: bar.update(1))
        bar.total = bar.n
    return result


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
    from model.scoring import head_correct, mean_by_type

    per_type = mean_by_type(head_correct(result.model, val.tensors), val.user_types)
    lines = []
    for k in range(result.model.num_heads):
        ranked = sorted(per_type.items(), key=lambda kv: -float(kv[1][k]))
        top = ", ".join(f"{u} {float(acc[k]):.2f}" for u, acc in ranked[:2])
        lines.append(f"head {k}: agrees most with {top} (validation pair accuracy)")
    return lines


def weights_version(model: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for tensor in model.state_dict().values():
        digest.update(tensor.detach().cpu().numpy().tobytes())
    return digest.hexdigest()[:12]


def build_config(args: argparse.Namespace, encoder: Encoder, result: FitResult, val: TrainingSet, n_fit: int) -> CheckpointConfig:
    return CheckpointConfig(
        backbone=asdict(encoder.info),
        num_heads=args.heads,
        dim=encoder.dim,
        router=args.router,
        version=f"k{args.heads}-{weights_version(result.model)}",
        routing=asdict(RoutingConfig(tau=args.tau, eta=args.eta, mode=args.routing_mode)),
        head_descriptions=describe_heads(result, val),
        training={
            "data": args.data.split(","),
            "split": "train (validation slice held out by prompt hash)",
            "pairs_fit": n_fit,
            "pairs_validation": len(val.pairs),
            "group_by": args.group_by,
            "fit": asdict(fit_config_of(args)),
            "seed": args.seed,
        },
        metrics=validation_metrics(result, val),
    )


def fit_config_of(args: argparse.Namespace) -> FitConfig:
    return FitConfig(
        num_heads=args.heads,
        router=args.router,
        alpha=args.alpha,
        lr=args.lr,
        weight_decay=args.weight_decay,
        max_steps=args.max_steps,
        patience=args.patience,
        restarts=args.restarts if args.heads > 1 else 1,
        seed=args.seed,
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    d, r = FitConfig(), RoutingConfig()
    p = argparse.ArgumentParser(prog="python -m model.train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="dsp,relabeled_hh", help="datasets, comma-separated (dsp, relabeled_hh)")
    p.add_argument("--data-root", type=Path, default=None, help="folder holding dsp/ and relabeled_hh/ (default ../shared/data)")
    p.add_argument("--heads", type=int, default=d.num_heads, help="K reward heads (1 = single Bradley-Terry)")
    p.add_argument("--router", choices=["linear", "none"], default=d.router, help="none = static mixture")
    p.add_argument("--group-by", choices=["choice", "pair"], default="choice",
                   help="choice: pairs sharing prompt and preferred response share one latent type; pair: plain per-pair loss")
    p.add_argument("--alpha", type=float, default=d.alpha, help="entropy regulariser weight")
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--max-steps", type=int, default=d.max_steps)
    p.add_argument("--patience", type=int, default=d.patience)
    p.add_argument("--restarts", type=int, default=d.restarts)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tau", type=float, default=r.tau, help="online routing: Hedge temperature stored in the checkpoint")
    p.add_argument("--eta", type=float, default=r.eta, help="online routing: mirror-descent step stored in the checkpoint")
    p.add_argument("--routing-mode", choices=["mirror", "hedge"], default=r.mode)
    p.add_argument("--backbone", type=Path, default=None, help="local Hugging Face model dir (default: all-MiniLM-L6-v2)")
    p.add_argument("--backbone-id", default=None, help="name recorded in the checkpoint for --backbone")
    p.add_argument("--pooling", choices=["mean", "last", "cls"], default="mean")
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--device", default=None, help="cuda, cpu or auto")
    p.add_argument("--cache-dir", type=Path, default=EMBEDDING_CACHE_DIR)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all cores)")
    p.add_argument("--out", type=Path, default=DEFAULT_CHECKPOINT)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    started = time.perf_counter()
    encoder = Encoder(args.backbone, backbone_id=args.backbone_id, pooling=args.pooling, device=args.device, max_length=args.max_length)
    data = load_training_set(args.data.split(","), encoder, args.cache_dir, args.data_root, "train", args.group_by)
    fit, val = data.split_validation()
    result = fit_with_progress(fit, val, fit_config_of(args), label=f"fit K={args.heads}")
    config = build_config(args, encoder, result, val, len(fit.pairs))
    config.training["seconds"] = round(time.perf_counter() - started, 1)
    save_checkpoint(args.out, result.model, config)
    print(json.dumps({"checkpoint": str(args.out), "version": config.version, **config.metrics}, indent=2))


if __name__ == "__main__":
    main()
