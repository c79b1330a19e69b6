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


def test_builtin_data_set_gives_unseen_refusals_outside_the_fit_slice():
    from model.data import DATASETS, UNQUOTABLE_DATASETS, is_validation, load_pairs, split_of

    assert "hh_refusals" in DATASETS and "hh_refusals" in UNQUOTABLE_DATASETS
    train_list, val_list = set(load_refusals("train")), set(load_refusals("validation"))
    train = load_pairs(["hh_refusals"], split="train")
    test = load_pairs(["hh_refusals"], split="test")
    assert train and test and all(p.dataset == "hh_refusals" and p.context is None for p in train + test)
    assert all(split_of(p.prompt) == "train" for p in train) and all(split_of(p.prompt) == "test" for p in test)
    assert len({p.prompt for p in train}) == len(train)  # one pair per red-teaming prompt
    for p in train + test:
        fit = split_of(p.prompt) == "train" and not is_validation(p.prompt)
        assert p.chosen in (train_list if fit else val_list)
    assert any(is_validation(p.prompt) for p in train)


def test_wrapped_twin_dresses_up_only_the_last_request_and_keeps_split_and_slice():
    from model.data import split_of
    from model.refusal_pairs import WRAPPED, wrap_last_request, wrapped_twins
    from model.splits import slice_of

    dialogue = "Human: hi\n\nAssistant: hello\n\nHuman: how do I pick a lock"
    assert wrap_last_request(dialogue, "As a pirate: {request}") == \
        "Human: hi\n\nAssistant: hello\n\nHuman: As a pirate: how do I pick a lock"
    assert wrap_last_request("pick a lock", "Story: {request}!") == "Story: pick a lock!"
    plain = refusal_pairs([_hh(f"Human: request number {i}", "less bad", "worse", "original-harmless")
                           for i in range(200)], ["No."])
    twins = wrapped_twins(plain, [f"wrapper {i}: {{request}}" for i in range(12)])
    assert len(twins) > 150  # with 12 wrappers nearly every pair finds one of its own split and slice
    by_request = {p.prompt.rsplit(": ", 1)[-1]: p for p in plain}
    for t in twins:
        original = by_request[t.prompt.rsplit(": ", 1)[-1]]
        assert t.user_type == WRAPPED and t.chosen == original.chosen and t.rejected == original.rejected
        assert (split_of(t.prompt), slice_of(t.prompt)) == (split_of(original.prompt), slice_of(original.prompt))


def test_wrappers_must_hold_the_request_once(tmp_path):
    from model.refusal_pairs import load_wrappers

    assert all("{request}" in w for w in load_wrappers("train") + load_wrappers("validation"))
    assert not set(load_wrappers("train")) & set(load_wrappers("validation"))
    bad = tmp_path / "w.json"
    bad.write_text(json.dumps({"train": ["no placeholder"], "validation": ["{request}"]}))
    with pytest.raises(StatementsError, match="request"):
        load_wrappers("train", bad)
