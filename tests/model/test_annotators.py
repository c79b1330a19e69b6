"""Annotator groups: simulated annotator ids for data without user ids, and --group-by user."""

import pytest
import torch

from model.annotators import simulated_annotators
from model.data import PreferencePair
from model.training_set import group_ids


def dsp_like(types=("academy", "business"), prompts=5, rejected=("x", "y")) -> list[PreferencePair]:
    return [PreferencePair(f"q{i}", f"{t}-answer", r, t, "dsp") for t in types for i in range(prompts) for r in rejected]


def test_each_type_is_dealt_to_annotators_of_the_given_number_of_prompts():
    pairs = dsp_like(prompts=5)
    ids = simulated_annotators(pairs, prompts_each=2)
    for t in ("academy", "business"):
        mine = [a for a, p in zip(ids, pairs) if p.user_type == t]
        per_annotator = {a: {p.prompt for a2, p in zip(ids, pairs) if a2 == a} for a in set(mine)}
        assert sorted(len(v) for v in per_annotator.values()) == [1, 2, 2]  # 5 prompts -> 2 + 2 + 1
    # one prompt's pairs of one type sit with one annotator; two types never share one
    assert ids[0] == ids[1]
    assert not set(ids[:10]) & set(ids[10:])


def test_real_user_ids_are_kept_and_untyped_pairs_get_none():
    pairs = [PreferencePair("q", "a", "b", "", "mine.jsonl", user_id="ann"), PreferencePair("q", "a", "b", "", "mine.jsonl")]
    assert simulated_annotators(pairs, 3) == ["ann", None]
    with pytest.raises(ValueError):
        simulated_annotators(pairs, 0)


def test_group_by_user_joins_a_users_pairs_across_prompts_and_leaves_unnamed_pairs_as_choices():
    pairs = [PreferencePair(p, "a", r, "", "t", user_id=u)
             for u, p, r in (("ann", "p1", "x"), ("ann", "p2", "y"), ("bob", "p1", "x"))]
    pairs += [PreferencePair("p3", "a", "x", "", "t"), PreferencePair("p3", "a", "y", "", "t")]
    assert group_ids(pairs, "user").tolist() == [0, 0, 1, 2, 2]
    assert group_ids(pairs, "choice").tolist() == [0, 1, 2, 3, 3]


def test_group_by_user_with_simulated_annotators():
    pairs = dsp_like(types=("academy",), prompts=4)
    assert torch.equal(group_ids(pairs, "user", annotator_prompts=4), torch.zeros(8, dtype=torch.long))
    assert group_ids(pairs, "user", annotator_prompts=1).unique().numel() == 4
    assert group_ids(pairs, "user").unique().numel() == 4  # no ids, no simulation: one group per choice
    with pytest.raises(ValueError):
        group_ids(pairs, "annotator")
