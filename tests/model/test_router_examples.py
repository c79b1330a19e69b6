"""Statements and the router's examples (model/router_examples.py), and a system message read as context."""

import json

import pytest

from model.data import PreferencePair, load_hh_original
from model.router_examples import (TRAIN_STATEMENTS, VALIDATION_STATEMENTS, StatementsError, load_statements, pick,
                                   with_statements, without_context)
from model.text_format import system_context


def pair(prompt="q", user_type="business", dataset="dsp", **kw):
    return PreferencePair(prompt, "a", "b", user_type, dataset, **kw)


def test_shipped_statement_files_cover_every_built_in_user_type_and_do_not_overlap():
    train, val = load_statements(TRAIN_STATEMENTS), load_statements(VALIDATION_STATEMENTS)
    types = {f"dsp/{d}" for d in ("academy", "business", "entertainment", "literature")}
    types |= {"relabeled_hh/helpful", "relabeled_hh/harmless"}
    assert set(train) == types and set(val) == types
    for key in types:
        assert len(train[key]) >= 8 and len(val[key]) >= 3
        assert not set(train[key]) & set(val[key])


def test_bad_statement_files_are_named(tmp_path):
    bad = tmp_path / "s.json"
    bad.write_text(json.dumps({"dsp/business": []}))
    with pytest.raises(StatementsError, match="dsp/business"):
        load_statements(bad)
    bad.write_text("{")
    with pytest.raises(StatementsError, match="s.json"):
        load_statements(bad)


def test_pick_is_reproducible_distinct_and_shared_by_a_prompts_pairs():
    s = ["one", "two", "three"]
    assert pick(s, "q", "k", 2) == pick(s, "q", "k", 2)
    assert len(set(pick(s, "q", "k", 2))) == 2
    assert sorted(pick(s, "q", "k", 5)) == sorted(s)


def test_with_statements_copies_typed_pairs_and_keeps_a_rows_own_context():
    st = {"dsp/business": ["I like business.", "Money matters."], "team-user-1": ["short please"]}
    pairs = [pair(), pair(context="my own words"), pair(user_type="academy"),
             pair(user_type="", dataset="team.jsonl", user_id="team-user-1")]
    out = with_statements(pairs, st, per_prompt=2)
    assert [p.context for p in out[:2]] in (["I like business.", "Money matters."], ["Money matters.", "I like business."])
    assert [p.weight for p in out[:2]] == [0.5, 0.5]  # a pair counts once whatever its number of wordings
    assert out[2].context == "my own words"
    assert out[3].context == "short please" and len(out) == 4  # academy has no statements here


def test_without_context_drops_contexts_and_replaces_relabeled_hh_by_hh_own_labels():
    hh_own = [pair(user_type="original-harmless", dataset="relabeled_hh")]
    out = without_context([pair(context="x"), pair(dataset="relabeled_hh", user_type="helpful")], hh_own)
    assert [(p.dataset, p.user_type, p.context) for p in out] == [("dsp", "business", None),
                                                                 ("relabeled_hh", "original-harmless", None)]


def test_hh_original_labels_follow_the_original_label_column():
    pairs = load_hh_original(split="train")
    assert pairs and {p.user_type for p in pairs} == {"original-harmless", "original-helpful"}
    assert len({(p.prompt, p.chosen, p.rejected) for p in pairs}) == len(pairs)


def test_system_messages_are_a_stated_context():
    msgs = [{"role": "system", "content": " Be brief. "}, {"role": "user", "content": "hi"}]
    assert system_context(msgs) == "Be brief."
    assert system_context([{"role": "user", "content": "hi"}]) is None
    assert system_context(None) is None


def test_a_chat_files_system_message_becomes_the_rows_context_only_when_asked(tmp_path):
    from model.pair_files import load_file
    from model.pair_shapes import Columns

    f = tmp_path / "chat.jsonl"
    rows = [{"prompt": [{"role": "system", "content": "Formal answers, please."}, {"role": "user", "content": "Why?"}],
             "chosen": [{"role": "assistant", "content": "Because."}], "rejected": [{"role": "assistant", "content": "dunno"}]},
            {"prompt": [{"role": "system", "content": "ignored"}, {"role": "user", "content": "How?"}], "context": "mine",
             "chosen": [{"role": "assistant", "content": "So."}], "rejected": [{"role": "assistant", "content": "no"}]}]
    f.write_text("\n".join(json.dumps(r) for r in rows))
    pairs, _, _ = load_file(f, Columns(system_as_context=True), False)
    assert [p.context for p in pairs] == ["Formal answers, please.", "mine"]
    plain, _, _ = load_file(f, Columns(), False)  # the default, and every feedback import
    assert [p.context for p in plain] == [None, "mine"]
    from model.text_format import dialogue

    assert all(m["role"] != "system" for m in dialogue(pairs[0].messages))  # the text the heads read leaves it out
