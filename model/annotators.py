"""Simulated annotators for data without user ids (the built-in DSP and relabeled HH files).

A real preference file often names who labelled each pair (``user_id``); the fit can then treat
one annotator's pairs as one latent preference type (``--group-by user``). The built-in data sets
carry a user *type* per pair but no ids. To train and evaluate that setting on them, each type's
prompts are dealt out, in a fixed hash order, to annotators of ``prompts_each`` prompts: the id
names an annotator, and the fit never reads the type behind it (the ids are opaque strings, and
several annotators share a type without the fit knowing which).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from model.data import PreferencePair


def _order(prompt: str) -> str:
    return hashlib.sha1(("annotator:" + prompt).encode("utf-8")).hexdigest()


def simulated_annotators(pairs: Sequence[PreferencePair], prompts_each: int) -> list[str | None]:
    """One annotator id per pair: a type's prompts in hash order, ``prompts_each`` per annotator.
    Pairs with a real ``user_id`` keep it; pairs without a type get None (no annotator)."""
    if prompts_each < 1:
        raise ValueError(f"an annotator needs at least one prompt, not {prompts_each}")
    prompts_by_type: dict[tuple[str, str], set[str]] = {}
    for p in pairs:
        if p.user_id is None and p.user_type:
            prompts_by_type.setdefault((p.dataset, p.user_type), set()).add(p.prompt)
    seat: dict[tuple[str, str, str], str] = {}
    for (dataset, user_type), prompts in prompts_by_type.items():
        for rank, prompt in enumerate(sorted(prompts, key=_order)):
            index = rank // prompts_each
            seat[(dataset, user_type, prompt)] = hashlib.sha1(f"{dataset}/{user_type}#{index}".encode()).hexdigest()[:12]
    return [p.user_id if p.user_id is not None else seat.get((p.dataset, p.user_type, p.prompt)) for p in pairs]
