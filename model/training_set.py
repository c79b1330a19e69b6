"""The training data as the fit sees it: preference pairs with their embeddings (fit / validation /
held-out slices, choice groups), loaded from the built-in data sets or embedded from any pairs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from model.annotators import simulated_annotators
from model.backbone import Encoder
from model.data import PreferencePair, default_data_root, is_validation, load_pairs
from model.feature_shards import read_features
from model.features import embed_pairs
from model.fitting import PairTensors
from model.train_data import PreparedData


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

    def slices(self, prepared: PreparedData) -> tuple[TrainingSet, TrainingSet, TrainingSet]:
        """Fit / validation / held-out slices (model/splits.py)."""
        fit, val, held = (self.take(torch.tensor(prepared.indices(name), dtype=torch.long))
                          for name in ("fit", "validation", "held_out"))
        return fit, val, held

    @property
    def user_types(self) -> list[str]:
        """Evaluation labels: the user id when a pair has one, else data set / user type."""
        return [p.user_id or (f"{p.dataset}/{p.user_type}" if p.user_type else p.dataset) for p in self.pairs]


GROUP_BY = ("choice", "pair", "user")


def group_ids(pairs: Sequence[PreferencePair], group_by: str, annotator_prompts: int = 0) -> torch.Tensor:
    """Which pairs share one latent preference type:

    - "choice": pairs sharing a prompt and a preferred response (and the user id, when the data
      has one) are one best-of-N choice;
    - "pair": every pair stands alone (the plain per-pair MiCRo likelihood);
    - "user": all pairs of one user id are one annotator. Pairs without an id are dealt to
      simulated annotators of ``annotator_prompts`` prompts per user type (model/annotators.py)
      when that is > 0, else each stays its own choice."""
    if group_by == "pair":
        return torch.arange(len(pairs))
    if group_by not in GROUP_BY:
        raise ValueError(f"--group-by must be one of {', '.join(GROUP_BY)}, not {group_by!r}")
    users: list[str | None] = [p.user_id for p in pairs]
    if group_by == "user" and annotator_prompts > 0:
        users = simulated_annotators(pairs, annotator_prompts)
    keys: dict[tuple, int] = {}
    if group_by == "user":
        return torch.tensor([keys.setdefault(("user", u) if u is not None else ("choice", p.prompt, p.chosen), len(keys))
                             for u, p in zip(users, pairs)])
    return torch.tensor([keys.setdefault((u, p.prompt, p.chosen), len(keys)) for u, p in zip(users, pairs)])


def load_training_set(
    datasets: Sequence[str], encoder: Encoder, cache_dir: Path, data_root: Path | None, split: str, group_by: str,
    annotator_prompts: int = 0,
) -> TrainingSet:
    pairs = load_pairs(datasets, data_root, split=split)  # type: ignore[arg-type]
    if not pairs:
        raise SystemExit(f"no preference pairs in {datasets} ({split} split) under {data_root or default_data_root()}")
    return embed_training_set(pairs, encoder, cache_dir, group_by, annotator_prompts)


def embed_training_set(
    pairs: list[PreferencePair], encoder: Encoder, cache_dir: Path, group_by: str, annotator_prompts: int = 0,
    features_dir: Path | None = None,
) -> TrainingSet:
    """Embedded through the on-disk cache, or read from a features directory that python -m
    model.extract_features wrote for these pairs with this encoder's recipe (FeatureShardError if not)."""
    if features_dir is not None:
        tensors = read_features(features_dir, pairs, encoder.info)
    else:
        tensors = embed_pairs(pairs, encoder, cache_dir)
    tensors.group = group_ids(pairs, group_by, annotator_prompts)
    tensors.weight = torch.tensor([p.weight for p in pairs], dtype=torch.float32)
    tensors.__post_init__()
    return TrainingSet(pairs, tensors)
