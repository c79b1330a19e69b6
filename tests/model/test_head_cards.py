"""Head cards describe each head from data: the groups it fits best (accuracy, win share), the
responses it scores highest and lowest against the other heads, a line of text; training writes
them, ``python -m model.head_cards`` adds them to an existing checkpoint without touching its
heads or version, and checkpoints without cards still load."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch

from model.checkpoint import CONFIG_FILE, WEIGHTS_FILE, load_checkpoint, read_config
from model.data import PreferencePair
from model.fitting import PairTensors
from model.head_cards import SNIPPET_CHARS, build_head_cards, group_of, main, snippet
from model.heads import MixtureRewardModel
from model.train import main as train_main
from tests.helpers import make_tiny_checkpoint
from tests.model.pair_fixtures import write
from tests.model.test_train_cli import FAST, tiny_rows

D = 4


def two_head_model() -> MixtureRewardModel:
    """Head 0 rewards coordinate 0, head 1 coordinate 1."""
    model = MixtureRewardModel(D, 2)
    with torch.no_grad():
        model.heads.weight.copy_(torch.eye(2, D))
    return model


def unit(i: int, scale: float = 1.0) -> torch.Tensor:
    return torch.eye(D)[i] * scale


def labelled_pairs(n_per_group: int) -> tuple[PairTensors, list[str]]:
    """Group "ann" prefers responses high on coordinate 0, "bob" on coordinate 1."""
    chosen, rejected, groups = [], [], []
    for i in range(n_per_group):
        for group, axis in (("ann", 0), ("bob", 1)):
            chosen.append(unit(axis, 1.0 + i) + unit(1 - axis, 0.5))
            rejected.append(unit(1 - axis, 1.0 + i))
            groups.append(group)
    c, r = torch.stack(chosen), torch.stack(rejected)
    return PairTensors(c, r, torch.zeros_like(c)), groups


def response_pairs() -> tuple[list[PreferencePair], PairTensors]:
    """Three responses: one only head 0 likes, one only head 1 likes, one both like equally."""
    texts = {"zero-lover": unit(0, 3.0), "one-lover": unit(1, 3.0), "both": unit(0, 1.0) + unit(1, 1.0)}
    names = list(texts)
    pairs = [PreferencePair("p", names[0], names[1], "", "t"), PreferencePair("p", names[2], names[1], "", "t")]
    chosen = torch.stack([texts[p.chosen] for p in pairs])
    rejected = torch.stack([texts[p.rejected] for p in pairs])
    return pairs, PairTensors(chosen, rejected, torch.zeros_like(chosen))


def test_each_head_is_the_best_for_the_group_that_prefers_its_direction():
    val, groups = labelled_pairs(12)
    pairs, train = response_pairs()
    cards = build_head_cards(two_head_model(), val, groups, pairs, train)
    assert [c["best_for"][0]["group"] for c in cards] == ["ann", "bob"]
    assert [c["name"] for c in cards] == ["head 0 · ann", "head 1 · bob"]
    for card in cards:
        best = card["best_for"][0]
        assert best["accuracy"] == 1.0 and best["pairs"] == 12 and best["win_share"] == 1.0
        assert card["best_for_count"] == 1 and not card["expert"]
        assert best["group"] in card["summary"] and "acc 1.00 on 12 val pairs" in card["summary"]


def test_top_and_bottom_responses_are_those_a_head_scores_against_the_others():
    val, groups = labelled_pairs(12)
    pairs, train = response_pairs()
    cards = build_head_cards(two_head_model(), val, groups, pairs, train)
    assert cards[0]["top_responses"][0] == "zero-lover" and cards[0]["bottom_responses"][0] == "one-lover"
    assert cards[1]["top_responses"][0] == "one-lover" and cards[1]["bottom_responses"][0] == "zero-lover"
    assert '"zero-lover"' in cards[0]["summary"]


def test_a_head_no_group_prefers_names_the_group_it_agrees_with_most_and_the_expert_is_marked():
    val, groups = labelled_pairs(12)
    model = MixtureRewardModel(D, 3)
    with torch.no_grad():
        model.heads.weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0.6, 0.4, 0, 0]]))
    pairs, train = response_pairs()
    cards = build_head_cards(model, val, groups, pairs, train, expert_head=2)
    assert cards[2]["best_for"] == [] and cards[2]["expert"] and cards[2]["name"] == "head 2 · expert"
    assert "best head for no labelled group; agrees most with: ann" in cards[2]["summary"]
    assert cards[2]["summary"].startswith("the backbone's own score head")
    cards = build_head_cards(model, val, groups, pairs, train)
    assert cards[2]["name"] == "head 2 · near ann" and not cards[2]["expert"]


def test_groups_with_too_few_pairs_are_not_quoted_when_others_have_enough():
    val, groups = labelled_pairs(12)
    small, small_groups = labelled_pairs(2)
    both = PairTensors(torch.cat([val.chosen, small.chosen]), torch.cat([val.rejected, small.rejected]),
                       torch.cat([val.prompt, small.prompt]))
    pairs, train = response_pairs()
    cards = build_head_cards(two_head_model(), both, groups + [f"tiny-{g}" for g in small_groups], pairs, train)
    assert all(not e["group"].startswith("tiny-") for c in cards for e in c["best_for"] + c["agrees_most"])


def mixed_pairs(datasets: tuple[str, str]) -> tuple[list[PreferencePair], PairTensors]:
    """Two pairs, each with a response only head 0 likes and one only head 1 likes; the first pair's
    data set is datasets[0], the second's datasets[1]."""
    texts = {"hh-zero": unit(0, 3.0), "hh-one": unit(1, 3.0), "dsp-zero": unit(0, 2.0), "dsp-one": unit(1, 2.0)}
    pairs = [PreferencePair("p", "hh-zero", "hh-one", "harmless", datasets[0]),
             PreferencePair("p", "dsp-zero", "dsp-one", "academy", datasets[1])]
    chosen = torch.stack([texts[p.chosen] for p in pairs])
    rejected = torch.stack([texts[p.rejected] for p in pairs])
    return pairs, PairTensors(chosen, rejected, torch.zeros_like(chosen))


def quoted(card: dict) -> set[str]:
    return set(card["top_responses"]) | set(card["bottom_responses"])


def test_red_teaming_responses_are_not_quoted_by_default():
    val, groups = labelled_pairs(12)
    pairs, train = mixed_pairs(("relabeled_hh", "dsp"))
    cards = build_head_cards(two_head_model(), val, groups, pairs, train)
    for card in cards:
        assert quoted(card) == {"dsp-zero", "dsp-one"}
        assert "hh-" not in card["summary"] and '"dsp-' in card["summary"]
    assert cards[0]["top_responses"] == ["dsp-zero"] and cards[0]["bottom_responses"] == ["dsp-one"]


def test_quote_all_quotes_red_teaming_responses_too():
    val, groups = labelled_pairs(12)
    pairs, train = mixed_pairs(("relabeled_hh", "dsp"))
    cards = build_head_cards(two_head_model(), val, groups, pairs, train, quote_all=True)
    assert cards[0]["top_responses"] == ["hh-zero", "dsp-zero"] and cards[0]["bottom_responses"] == ["hh-one", "dsp-one"]
    assert '"hh-zero"' in cards[0]["summary"]


def test_only_red_teaming_pairs_leave_no_quotes_but_keep_the_group_statistics():
    val, groups = labelled_pairs(12)
    pairs, train = mixed_pairs(("relabeled_hh", "relabeled_hh"))
    cards = build_head_cards(two_head_model(), val, groups, pairs, train)
    quoting = build_head_cards(two_head_model(), val, groups, pairs, train, quote_all=True)
    for card, full in zip(cards, quoting):
        assert card["top_responses"] == [] and card["bottom_responses"] == []
        assert '"' not in card["summary"] and "scores higher" not in card["summary"]
        assert card["best_for"] == full["best_for"] and card["agrees_most"] == full["agrees_most"]
        assert card["best_for"][0]["pairs"] == 12


def test_a_user_file_pair_stays_quotable():
    val, groups = labelled_pairs(12)
    pairs, train = mixed_pairs(("relabeled_hh.jsonl", "mine.jsonl"))  # a user's own files: named by file
    cards = build_head_cards(two_head_model(), val, groups, pairs, train)
    assert quoted(cards[0]) == {"hh-zero", "hh-one", "dsp-zero", "dsp-one"}


def test_the_command_accepts_quote_all_data():
    from model.head_cards import parse_args

    assert parse_args(["--quote-all-data"]).quote_all_data and not parse_args([]).quote_all_data


def test_snippets_are_one_line_and_cut_with_an_ellipsis():
    long = "word  " * 100 + "\nend"
    cut = snippet(long)
    assert len(cut) == SNIPPET_CHARS and cut.endswith("…") and "\n" not in cut and "  " not in cut
    assert snippet(" short\ttext ") == "short text"


def test_group_is_the_user_id_else_data_set_and_user_type():
    assert group_of(PreferencePair("p", "a", "b", "academy", "dsp")) == "dsp/academy"
    assert group_of(PreferencePair("p", "a", "b", "academy", "dsp", user_id="u-7")) == "u-7"
    assert group_of(PreferencePair("p", "a", "b", "", "mine.jsonl")) == "mine.jsonl"


def test_a_checkpoint_without_head_cards_still_loads(tmp_path):
    directory = make_tiny_checkpoint(tmp_path / "old")
    raw = json.loads((directory / CONFIG_FILE).read_text())
    raw.pop("head_cards", None)
    (directory / CONFIG_FILE).write_text(json.dumps(raw))
    assert read_config(directory).head_cards == []
    model, config = load_checkpoint(directory)
    assert config.head_cards == [] and model.num_heads == config.num_heads


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def tiny_backbone(tmp_path_factory):
    from tests.model.tiny_models import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("backbone") / "tiny-llama")


def test_training_writes_cards_and_the_command_recomputes_them_leaving_heads_and_version(tmp_path, capsys,
                                                                                         tiny_backbone):
    data = write(tmp_path / "pairs.jsonl", tiny_rows(64))
    out, cache = tmp_path / "ck", tmp_path / "cache"
    train_main(["--data", str(data), "--backbone", str(tiny_backbone), "--cache-dir", str(cache), "--out", str(out),
                *FAST])
    trained = json.loads((out / CONFIG_FILE).read_text())
    assert len(trained["head_cards"]) == trained["num_heads"]
    assert {e["group"] for c in trained["head_cards"] for e in c["agrees_most"]} == {"ann", "bob"}

    without = {k: v for k, v in trained.items() if k != "head_cards"}
    (out / CONFIG_FILE).write_text(json.dumps(without, indent=2))  # as a checkpoint from before cards existed
    weights = digest(out / WEIGHTS_FILE)
    cards = main(["--checkpoint", str(out), "--backbone", str(tiny_backbone), "--cache-dir", str(cache)])
    after = json.loads((out / CONFIG_FILE).read_text())
    assert after.pop("head_cards") == cards == trained["head_cards"]  # the recorded data, the same cards
    assert after == without and digest(out / WEIGHTS_FILE) == weights
    assert f"version {trained['version']}" in capsys.readouterr().out


def test_the_command_refuses_a_checkpoint_of_another_backbone_and_writes_nothing(tmp_path, capsys, tiny_backbone):
    directory = make_tiny_checkpoint(tmp_path / "minilm")  # trained on all-MiniLM-L6-v2
    before = (directory / CONFIG_FILE).read_text()
    with pytest.raises(SystemExit) as info:
        main(["--checkpoint", str(directory), "--backbone", str(tiny_backbone), "--data", "dsp"])
    assert info.value.code == 2
    assert "mismatch" in capsys.readouterr().err
    assert (directory / CONFIG_FILE).read_text() == before
