"""Fit / validation / held-out slices of the training pairs, by prompt hash (a prompt's pairs
stay in one slice), and the checks that refuse data too small to train and report on.

Without ``--val-data``: 1 prompt in 8 is validation (early stopping; the per-user choice of a
head), 1 in 8 is held out (the figures reported), the rest is fit. With ``--val-data``: every
training pair is fit, and the validation files' prompts are halved into validation / held-out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Literal

from model.data import PreferencePair

Slice = Literal["fit", "validation", "held_out"]
MIN_PAIRS = 40  # fewer usable training pairs than this: refused (K heads + a router need more)
MIN_SLICE_PAIRS = 1  # validation and held-out slices need at least this many pairs each


class SplitError(ValueError):
    """The data cannot be split into non-empty fit / validation / held-out slices."""


def prompt_bucket(prompt: str, salt: str, every: int) -> int:
    return int(hashlib.sha1((salt + prompt).encode("utf-8")).hexdigest(), 16) % every


def slice_of(prompt: str) -> Slice:
    """The training pairs' slice: bucket 0 of 8 is validation (as model.data.is_validation), 1 held out."""
    bucket = prompt_bucket(prompt, "validation:", 8)
    return "validation" if bucket == 0 else "held_out" if bucket == 1 else "fit"


def val_data_slice_of(prompt: str) -> Slice:
    """A --val-data pair's slice: half validation, half held out."""
    return "validation" if prompt_bucket(prompt, "held-out:", 2) == 0 else "held_out"


def assign_slices(train: Sequence[PreferencePair], val_data: Sequence[PreferencePair] | None) -> list[Slice]:
    """One slice per pair of ``train + val_data`` (in that order)."""
    if val_data is None:
        return [slice_of(p.prompt) for p in train]
    return ["fit"] * len(train) + [val_data_slice_of(p.prompt) for p in val_data]


def check_sizes(n_train: int, slices: Sequence[Slice]) -> dict[str, int]:
    """Counts per slice; :class:`SplitError` when there is too little to train or to report on."""
    counts = {name: sum(1 for s in slices if s == name) for name in ("fit", "validation", "held_out")}
    if n_train < MIN_PAIRS:
        raise SplitError(f"only {n_train} usable training pairs; at least {MIN_PAIRS} are needed")
    for name in ("validation", "held_out"):
        if counts[name] < MIN_SLICE_PAIRS:
            raise SplitError(
                f"the {name.replace('_', '-')} slice is empty: the pairs have too few distinct prompts "
                f"({counts['fit']} fit, {counts['validation']} validation, {counts['held_out']} held-out pairs; "
                "slices are drawn by prompt hash). Add prompts or give --val-data"
            )
    return counts
