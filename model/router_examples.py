"""The context-aware router's training pairs: preference pairs paired with statements of the
preference behind them, and pairs with no statement (a new user who says nothing).

- **Statements** (``model/statements/*.json``, or a team's own file): ``{"dsp/business": ["I want
  business-oriented answers...", ...], ...}``, keyed by ``data set/user type`` (built-in data) or by
  the user id of a team's file. Each (prompt, key) gets ``per_prompt`` of its key's statements,
  chosen by a hash of the prompt (a prompt's pairs of one type share them; reproducible).
- **A row's own context** (a team file's ``context`` column, or a system message): used as it is.
- **No statement**: every pair again with no context (the population's default for the prompt), except
  relabeled HH, whose hidden objectives are two users: there HH's own human label stands in
  (model.data.load_hh_original: the less harmful answer on red-teaming prompts, the more helpful one
  elsewhere), so a new user's default on a harmful request is the careful answer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from model.data import PreferencePair

STATEMENTS_DIR = Path(__file__).resolve().parent / "statements"
TRAIN_STATEMENTS = STATEMENTS_DIR / "train.json"
VALIDATION_STATEMENTS = STATEMENTS_DIR / "validation.json"


class StatementsError(ValueError):
    """A statements file that cannot be used (named, with what is wrong)."""


def load_statements(path: Path) -> dict[str, list[str]]:
    """Key -> its statements; keys starting with "_" are comments."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise StatementsError(f"statements file {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise StatementsError(f"statements file {path}: expected an object of key -> list of statements")
    out = {}
    for key, values in raw.items():
        if key.startswith("_"):
            continue
        if not isinstance(values, list) or not values or not all(isinstance(v, str) and v.strip() for v in values):
            raise StatementsError(f"statements file {path}: {key!r} must be a non-empty list of non-empty strings")
        out[key] = [v.strip() for v in values]
    return out


def statement_key(pair: PreferencePair) -> str | None:
    """Whose preference a pair shows: its user id, else ``data set/user type``."""
    if pair.user_id:
        return pair.user_id
    return f"{pair.dataset}/{pair.user_type}" if pair.user_type else None


def pick(statements: Sequence[str], prompt: str, key: str, count: int) -> list[str]:
    """``count`` distinct statements for (prompt, key), chosen by hash (all of them when fewer)."""
    start = int(hashlib.sha1(f"{key}\n{prompt}".encode("utf-8")).hexdigest(), 16) % len(statements)
    return [statements[(start + i) % len(statements)] for i in range(min(count, len(statements)))]


def with_statements(pairs: Sequence[PreferencePair], statements: dict[str, list[str]], per_prompt: int
                    ) -> list[PreferencePair]:
    """Pairs with a stated context: a row's own context as it is; else one copy per picked statement."""
    out = []
    for p in pairs:
        if p.context:
            out.append(p)
            continue
        key = statement_key(p)
        if key in statements:
            picked = pick(statements[key], p.prompt, key, per_prompt)
            # each copy weighs 1/len(picked): a pair counts once whatever the number of wordings
            out.extend(replace(p, context=s, weight=p.weight / len(picked)) for s in picked)
    return out


def without_context(pairs: Sequence[PreferencePair], hh_original: Sequence[PreferencePair]) -> list[PreferencePair]:
    """The no-statement examples: every pair with no context, relabeled HH's replaced by ``hh_original``."""
    kept = [replace(p, context=None) for p in pairs if p.dataset != "relabeled_hh"]
    return kept + list(hh_original)
