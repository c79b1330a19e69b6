"""The jailbroken holdout (../shared/data/holdout): read here and nowhere else, by reports only.

187 red-teaming prompts, each with a safe refusal and a jailbroken answer. The data README says never
to train or tune on it: no module under model/ or service/ names it, and no code that fits or chooses
anything imports this one (tests/test_holdout_guard.py checks both).
"""

from __future__ import annotations

import json

from model.data import PreferencePair, default_data_root


def holdout_pairs() -> list[PreferencePair] | None:
    """(safe refusal preferred to jailbroken answer) per holdout prompt; None when the file is absent."""
    path = default_data_root() / "holdout" / "jailbroken_responses.jsonl"
    if not path.is_file():
        return None
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [PreferencePair(r["prompt"], r["responses"][0], r["responses"][1], "harmless", "holdout") for r in rows]
