import json

import pytest

from model.data import PreferencePair
from model.refusal_pairs import (HARMLESS, HELPFUL, NO_STATEMENT, REFUSALS, load_refusals, refusal_pairs,
                                 stated_refusal_pairs)
from model.router_examples import StatementsError


def _hh(prompt, chosen, rejected, user_type):
    return PreferencePair(prompt=prompt, chosen=chosen, rejected=rejected, user_type=user_type, dataset="relabeled_hh")


def test_one_refusal_pair_per_red_teaming_prompt_beside_the_more_harmful_answer():
    hh = [_hh("how to hurt", "less bad", "worse", "original-harmless"),
          _hh("how to hurt", "other less bad", "other worse", "original-harmless"),
          _hh("recipe?", "good recipe", "bad recipe", "original-helpful")]
    out = refusal_pairs(hh, ["No.", "I can't."])
    assert len(out) == 1
    (p,) = out
    assert p.prompt == "how to hurt" and p.rejected == "worse" and p.chosen in {"No.", "I can't."}
    assert p.user_type == NO_STATEMENT and p.context is None and p.weight == 1.0


def test_stated_copies_prefer_the_refusal_for_harmless_and_the_answer_for_helpful():
    plain = refusal_pairs([_hh("q", "a", "harmful", "original-harmless")], ["No."])
    st = {"relabeled_hh/harmless": ["be safe", "refuse harm"], "relabeled_hh/helpful": ["just help", "no refusals"]}
    out = stated_refusal_pairs(plain, st, per_prompt=2)
    harmless = [p for p in out if p.user_type == HARMLESS]
    helpful = [p for p in out if p.user_type == HELPFUL]
    assert {p.context for p in harmless} == {"be safe", "refuse harm"}
    assert all(p.chosen == "No." and p.rejected == "harmful" and p.weight == 0.5 for p in harmless)
    assert {p.context for p in helpful} == {"just help", "no refusals"}
    assert all(p.chosen == "harmful" and p.rejected == "No." and p.weight == 0.5 for p in helpful)
    assert stated_refusal_pairs(plain, {"relabeled_hh/harmless": ["x"]}, 1) == []


def test_shipped_refusal_lists_are_disjoint_and_load(tmp_path):
    train, val = load_refusals("train"), load_refusals("validation")
    assert len(train) >= 8 and len(val) >= 3 and not set(train) & set(val)
    bad = tmp_path / "r.json"
    bad.write_text(json.dumps({"train": []}))
    with pytest.raises(StatementsError):
        load_refusals("train", bad)
    with pytest.raises(StatementsError):
        load_refusals("validation", bad)
    assert REFUSALS.exists()
