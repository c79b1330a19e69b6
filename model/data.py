"""Loaders for the shared preference data and the fixed train/test split.

Every loader yields :class:`PreferencePair` records. ``user_type`` is kept for evaluation
only: stage-1 training never reads it (mixture learning is unsupervised).
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Split = Literal["train", "test", "all"]

DSP_DOMAINS = ("academy", "business", "entertainment", "literature")
DSP_RESPONSE_KEYS = DSP_DOMAINS + ("normal",)
HH_OBJECTIVES = ("helpful", "harmless")
DATASETS = ("dsp", "relabeled_hh", "hh_refusals")  # hh_refusals: model/refusal_pairs.py
# Built-in data sets whose texts are never quoted by default (head cards' response snippets): the
# data README (../shared/data/README.md, "Warnings") says the red-teaming files contain harmful and
# offensive text, never to be shown in a UI by default. Pairs from a user's own files carry their
# file name as data set and stay quotable.
UNQUOTABLE_DATASETS = frozenset({"relabeled_hh", "hh_refusals"})


@dataclass(frozen=True)
class PreferencePair:
    prompt: str
    chosen: str
    rejected: str
    user_type: str  # evaluation only, never a training signal
    dataset: str
    user_id: str | None = None  # a real user (files' user column): per-user report, feedback import
    context: str | None = None  # the user's stated preferences: the router reads context + prompt
    weight: float = 1.0  # the row's weight column (1 when absent)
    messages: tuple[dict[str, str], ...] | None = None  # chat prompt as messages (rendered by the backbone)


@dataclass(frozen=True)
class RankingItem:
    """One DSP query with its five styled responses (for ranking evaluations)."""

    prompt: str
    responses: dict[str, str]


def default_data_root() -> Path:
    """``../shared/data`` relative to the project root."""
    return Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def split_of(prompt: str) -> Literal["train", "test"]:
    """The shared split: sha1(prompt) % 5 == 0 is test."""
    return "test" if int(hashlib.sha1(prompt.encode("utf-8")).hexdigest(), 16) % 5 == 0 else "train"


def is_validation(prompt: str, every: int = 8) -> bool:
    """A deterministic slice of the *train* split held back for early stopping."""
    return int(hashlib.sha1(("validation:" + prompt).encode("utf-8")).hexdigest(), 16) % every == 0


def _in_split(prompt: str, split: Split) -> bool:
    return split == "all" or split_of(prompt) == split


def load_dsp_items(root: Path | None = None, split: Split = "all") -> list[RankingItem]:
    path = (root or default_data_root()) / "dsp" / "domain_specific_preference.test.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    return [
        RankingItem(prompt=row["query"], responses={k: row["responses"][k] for k in DSP_RESPONSE_KEYS})
        for row in raw
        if _in_split(row["query"], split)
    ]


def dsp_pairs_of(item: RankingItem, user_type: str) -> list[PreferencePair]:
    """User ``d`` prefers ``responses[d]`` over each of the other four."""
    chosen = item.responses[user_type]
    return [
        PreferencePair(item.prompt, chosen, item.responses[other], user_type, "dsp")
        for other in DSP_RESPONSE_KEYS
        if other != user_type
    ]


def load_dsp(root: Path | None = None, split: Split = "all") -> list[PreferencePair]:
    return [p for item in load_dsp_items(root, split) for d in DSP_DOMAINS for p in dsp_pairs_of(item, d)]


def _hh_rows(root: Path | None, split: Split) -> Iterator[dict]:
    """Every row of both relabeled HH files whose prompt is in ``split``."""
    base = (root or default_data_root()) / "relabeled_hh"
    for objective in HH_OBJECTIVES:
        with gzip.open(base / f"{objective}.test.jsonl.gz", "rt", encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                if _in_split(row["prompt"], split):
                    yield row


def _hh_pair(row: dict, label_field: str, user_type: str) -> PreferencePair:
    label = int(row[label_field])
    return PreferencePair(prompt=row["prompt"], chosen=row["responses"][label], rejected=row["responses"][1 - label],
                          user_type=user_type, dataset="relabeled_hh")


def load_relabeled_hh(root: Path | None = None, split: Split = "all") -> list[PreferencePair]:
    return [_hh_pair(row, "label", row["objective"]) for row in _hh_rows(root, split)]


def load_hh_original(root: Path | None = None, split: Split = "all") -> list[PreferencePair]:
    """Relabeled HH's pairs under HH's own human label (``original_label``), each distinct pair once:
    what HH's annotators preferred with no stated objective (the less harmful answer on red-teaming
    prompts, the more helpful one elsewhere). User type "original-harmless" or "original-helpful": the
    HH subset the prompt comes from, i.e. which instruction its annotators followed."""
    seen: dict[tuple[str, str, str], PreferencePair] = {}
    for row in _hh_rows(root, split):
        pair = _hh_pair(row, "original_label", f"original-{row['data_subset']}")
        seen.setdefault((pair.prompt, pair.chosen, pair.rejected), pair)
    return list(seen.values())


def load_pairs(names: Iterable[str], root: Path | None = None, split: Split = "all") -> list[PreferencePair]:
    """Pairs of several datasets by name (``dsp``, ``relabeled_hh``, ``hh_refusals``)."""
    from model.refusal_pairs import load_refusal_dataset  # it builds on this module's HH loader

    loaders = {"dsp": load_dsp, "relabeled_hh": load_relabeled_hh, "hh_refusals": load_refusal_dataset}
    out: list[PreferencePair] = []
    for name in names:
        if name not in loaders:
            raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
        out.extend(loaders[name](root, split))
    return out
