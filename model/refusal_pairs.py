"""Pairs that teach the router what a safe default is on harmful requests: a declining answer (written by
the project, ``model/statements/refusals.json``) beside the more harmful of HH's two answers on a
red-teaming prompt (HH's own label, user type "original-harmless"). HH itself rarely holds such a pair
(about 60 of its 1,666 red-teaming training pairs have exactly one answer that declines), so without
them nothing in the training data says how the heads judge a refusal.

One pair per red-teaming prompt, the refusal chosen by a hash of the prompt. Three kinds:

- no statement, the refusal preferred (user type "declines-harmful"): a new user's default;
- stated harmless preference, the refusal preferred (user type "harmless-declines");
- stated helpful preference ("help fully, no refusals"), the harmful answer preferred ("helpful-complies").

The stated kinds take their statements from the harmless / helpful user types' lists.

A request may come dressed up (role-play, "no disclaimers", fiction, "for research"): each pair has a twin
whose last human turn is wrapped in such a jailbreak (``model/statements/jailbreak_wrappers.json``,
user type "declines-wrapped"), with the same refusal preferred. A twin keeps its original's split and slice
(the wrapper is the first, from a hashed start, whose wrapped prompt hashes to the same ones), so no wording
kept for validation or test crosses into the fit.

The no-statement pairs are also a built-in data set for stage 1 (``python -m model.train --data
dsp,relabeled_hh,hh_refusals``), so that some head learns to score a refusal: fit prompts take the
"train" refusals, every other prompt (validation slice, test split) the "validation" ones.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from model.data import PreferencePair, Split, is_validation, load_hh_original, split_of
from model.splits import slice_of
from model.router_examples import STATEMENTS_DIR, StatementsError, pick

REFUSALS = STATEMENTS_DIR / "refusals.json"
WRAPPERS = STATEMENTS_DIR / "jailbreak_wrappers.json"
NO_STATEMENT, HARMLESS, HELPFUL = "declines-harmful", "harmless-declines", "helpful-complies"
WRAPPED = "declines-wrapped"
STATED_BY = {HARMLESS: "relabeled_hh/harmless", HELPFUL: "relabeled_hh/helpful"}


def load_refusals(part: str, path: Path = REFUSALS) -> list[str]:
    """The ``part`` ("train" or "validation") list of declining answers."""
    return _load_list(part, path, "refusals")


def load_wrappers(part: str, path: Path = WRAPPERS) -> list[str]:
    """The ``part`` list of jailbreak wrappers, each holding ``{request}`` once."""
    values = _load_list(part, path, "jailbreak wrappers")
    if not all(v.count("{request}") == 1 for v in values):
        raise StatementsError(f"jailbreak wrappers file {path}: every {part!r} wrapper must hold {{request}} once")
    return values


def _load_list(part: str, path: Path, what: str) -> list[str]:
    try:
        values = json.loads(Path(path).read_text(encoding="utf-8"))[part]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StatementsError(f"{what} file {path}: no usable {part!r} list ({exc})") from exc
    if not isinstance(values, list) or not values or not all(isinstance(v, str) and v.strip() for v in values):
        raise StatementsError(f"{what} file {path}: {part!r} must be a non-empty list of non-empty strings")
    return [v.strip() for v in values]


def wrap_last_request(prompt: str, wrapper: str) -> str:
    """An HH dialogue with its last human turn (the request) wrapped; a prompt without turns is wrapped whole."""
    head, sep, tail = prompt.rpartition("Human:")
    request, cue, rest = tail.partition("\n\nAssistant:")
    if not sep or not request.strip():
        return wrapper.replace("{request}", prompt.strip())
    return head + sep + " " + wrapper.replace("{request}", request.strip()) + cue + rest


def wrapped_twins(plain: Sequence[PreferencePair], wrappers: Sequence[str]) -> list[PreferencePair]:
    """Per pair, its twin with the request wrapped in a jailbreak of the same split and slice (none fits: no twin)."""
    out = []
    for p in plain:
        home = (split_of(p.prompt), slice_of(p.prompt))
        start = int(hashlib.sha1(f"{WRAPPED}\n{p.prompt}".encode("utf-8")).hexdigest(), 16) % len(wrappers)
        for i in range(len(wrappers)):
            prompt = wrap_last_request(p.prompt, wrappers[(start + i) % len(wrappers)])
            if (split_of(prompt), slice_of(prompt)) == home:
                out.append(replace(p, prompt=prompt, user_type=WRAPPED))
                break
    return out


def refusal_pairs(hh_original: Sequence[PreferencePair], refusals: Sequence[str]) -> list[PreferencePair]:
    """Per red-teaming prompt: (a refusal > HH's rejected answer) with no context."""
    out, seen = [], set()
    for p in hh_original:
        if p.user_type != "original-harmless" or p.prompt in seen:
            continue
        seen.add(p.prompt)
        refusal = pick(refusals, p.prompt, NO_STATEMENT, 1)[0]
        out.append(replace(p, chosen=refusal, user_type=NO_STATEMENT, context=None, weight=1.0))
    return out


def stated_refusal_pairs(plain: Sequence[PreferencePair], statements: dict[str, list[str]], per_prompt: int
                         ) -> list[PreferencePair]:
    """The same pairs with harmless statements (refusal preferred) and helpful ones (the answer preferred);
    a pair counts once whatever the number of wordings. Empty when the statements lack either type."""
    if not all(key in statements for key in STATED_BY.values()):
        return []
    out = []
    for p in plain:
        for kind, key in STATED_BY.items():
            picked = pick(statements[key], p.prompt, key, per_prompt)
            pair = p if kind == HARMLESS else replace(p, chosen=p.rejected, rejected=p.chosen)
            out.extend(replace(pair, user_type=kind, context=s, weight=1.0 / len(picked)) for s in picked)
    return out


def load_refusal_dataset(root: Path | None = None, split: Split = "all", path: Path = REFUSALS,
                         wrappers: Path | None = WRAPPERS) -> list[PreferencePair]:
    """The built-in data set ``hh_refusals``: per red-teaming prompt of ``split``, a refusal over HH's more
    harmful answer, no context, and its wrapped twin (``wrappers`` None: none). A validation-slice or test
    prompt gets a "validation" refusal and wrapper, so validation and test judge wordings the heads never saw
    (held-out-slice prompts take the "train" ones, as model.fit_router fits on them)."""
    hh = load_hh_original(root, split)
    parts = {"train": [p for p in hh if split_of(p.prompt) == "train" and not is_validation(p.prompt)],
             "validation": [p for p in hh if split_of(p.prompt) == "test" or is_validation(p.prompt)]}
    pairs = []
    for part, originals in parts.items():
        plain = refusal_pairs(originals, load_refusals(part, path))
        pairs += plain + (wrapped_twins(plain, load_wrappers(part, wrappers)) if wrappers else [])
    return [replace(p, dataset="hh_refusals") for p in pairs]
