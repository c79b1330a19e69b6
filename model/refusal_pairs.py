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
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from model.data import PreferencePair
from model.router_examples import STATEMENTS_DIR, StatementsError, pick

REFUSALS = STATEMENTS_DIR / "refusals.json"
NO_STATEMENT, HARMLESS, HELPFUL = "declines-harmful", "harmless-declines", "helpful-complies"
STATED_BY = {HARMLESS: "relabeled_hh/harmless", HELPFUL: "relabeled_hh/helpful"}


def load_refusals(part: str, path: Path = REFUSALS) -> list[str]:
    """The ``part`` ("train" or "validation") list of declining answers."""
    try:
        values = json.loads(Path(path).read_text(encoding="utf-8"))[part]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StatementsError(f"refusals file {path}: no usable {part!r} list ({exc})") from exc
    if not isinstance(values, list) or not values or not all(isinstance(v, str) and v.strip() for v in values):
        raise StatementsError(f"refusals file {path}: {part!r} must be a non-empty list of non-empty strings")
    return [v.strip() for v in values]


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
