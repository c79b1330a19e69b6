"""The word-block mixture probe by hand: the block beside the features (the router's input unchanged), top-1 of
five from a query's four pairs, the simulated users' served outcomes with no labels and after one, the report."""

import math

import torch

from evaluation.lexical_features import fit_vocabulary
from evaluation.lexical_mixture import (Scored, _interval_by_query, _top1, fit, online_outcomes, report, top1_of_five,
                                        with_words)
from model.data import PreferencePair
from model.fitting import FitConfig, PairTensors
from model.routing import RoutingConfig
from model.training_set import TrainingSet


def test_the_word_block_sits_beside_the_features_times_the_factor_and_the_router_input_is_unchanged():
    vocab = fit_vocabulary(["short", "long long"], min_count=1)  # terms: long, "long long", short
    pairs = [PreferencePair("q", "short", "long long", "t", "d")]
    tensors = PairTensors(torch.ones(1, 2), torch.zeros(1, 2), torch.full((1, 2), 7.0))
    out = with_words(tensors, pairs, vocab, factor=3.0)
    assert out.chosen.shape == out.rejected.shape == (1, 2 + len(vocab)) and torch.equal(out.prompt, tensors.prompt)
    assert math.isclose(float(out.chosen[0, 2 + vocab.index["short"]]), 3.0, rel_tol=1e-6)  # a unit row, times 3
    assert float(out.rejected[0, 2 + vocab.index["short"]]) == 0.0
    assert math.isclose(float(out.rejected[0, 2:].norm()), 3.0, rel_tol=1e-6)
    assert with_words(tensors, pairs, None, 3.0) is tensors


def test_top1_of_five_needs_every_pair_of_the_query_right():
    outcomes = torch.tensor([1, 1, 1, 1, 1, 0, 1, 1], dtype=torch.float32)
    per_query, queries = top1_of_five(outcomes, ["a"] * 4 + ["b"] * 4)
    assert queries == ["a", "b"] and per_query.tolist() == [1.0, 0.0]


def test_online_outcomes_with_no_labels_follow_the_prior_and_one_label_moves_the_weights():
    # two heads; the test pair: head 0 says chosen wins by 1, head 1 says it loses by 3
    test = Scored(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 3.0]]), torch.tensor([[0.0, 0.0]]))
    routing = RoutingConfig(tau=1.0, eta=8.0)
    # uniform prior: score 0.5 * 1 - 0.5 * 3 < 0, the pair is ranked wrong
    assert online_outcomes(test, test, routing, users=3, n=0).tolist() == [0.0]
    strong_prior = Scored(test.r_chosen, test.r_rejected, torch.tensor([[5.0, 0.0]]))
    assert online_outcomes(strong_prior, strong_prior, routing, users=1, n=0).tolist() == [1.0]
    # one label where head 0 is right (margin +4) and head 1 wrong (-4): the mirror step moves weight to head 0
    labels = Scored(torch.tensor([[4.0, 0.0]]), torch.tensor([[0.0, 4.0]]), torch.zeros(1, 2))
    assert online_outcomes(labels, test, routing, users=2, n=1).tolist() == [1.0]


def test_labels_come_one_per_prompt_when_prompts_are_given():
    # three labels on prompt "a" that favour head 1, one on "b" that favours head 0; the test pair: head 1 is right
    labels = Scored(torch.tensor([[0.0, 4.0]] * 3 + [[4.0, 0.0]]), torch.tensor([[4.0, 0.0]] * 3 + [[0.0, 4.0]]),
                    torch.zeros(4, 2))
    test = Scored(torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 0.0]]), torch.zeros(1, 2))
    hedge = RoutingConfig(tau=1.0, mode="hedge")  # additive in the labels: the order cannot matter
    # all four labels: three "a"s outweigh the "b", head 1 leads, the pair is right for every user
    assert online_outcomes(labels, test, hedge, users=5, n=4).tolist() == [1.0]
    # one label per prompt: one "a" and the "b" cancel exactly, uniform weights tie the pair: a miss for every user
    assert online_outcomes(labels, test, hedge, users=5, n=4, label_prompts=["a", "a", "a", "b"]).tolist() == [0.0]


def test_top1_and_query_intervals_line_up_values_with_their_types_and_queries():
    # type x: queries p, q both right; type y: query p right, query r wrong (one of its four pairs)
    types = ["dsp/x"] * 8 + ["dsp/y"] * 8
    prompts = ["p"] * 4 + ["q"] * 4 + ["p"] * 4 + ["r"] * 4
    values = torch.tensor([1.0] * 8 + [1.0] * 4 + [1.0, 0.0, 1.0, 1.0])
    assert _top1(values, list(range(16)), types, prompts)["value"] == 0.75  # mean of x 1.0 and y 0.5

    class Set:  # what _interval_by_query reads of a TrainingSet
        user_types, pairs = types, [PreferencePair(p, "c", "r", "t", "dsp") for p in prompts]

    per_type = {"dsp/x": torch.tensor([1.0, 0.5]), "dsp/y": torch.tensor([0.0, 0.25])}  # per query, in order
    assert _interval_by_query(per_type, Set())["value"] == 0.4375  # (0.75 + 0.125) / 2


def _toy_set(queries: int, seed: int, gen: torch.Generator) -> TrainingSet:
    """Noise features; each type's preferred response names the type, the other never does (a word signal only)."""
    pairs = []
    for q in range(queries):
        for t in ("academy", "business"):
            pairs += [PreferencePair(f"q{seed}-{q}", f"{t} reply {q}", f"other {o} reply", t, "dsp") for o in range(4)]
        pairs += [PreferencePair(f"h{seed}-{q}", f"{t} answer", f"plain answer {q}", t, "relabeled_hh")
                  for t in ("helpful", "harmless")]
    n = len(pairs)
    return TrainingSet(pairs, PairTensors(*(torch.randn(n, 6, generator=gen) for _ in range(3))))


def test_the_report_reads_the_word_block_end_to_end_on_a_toy_set():
    gen = torch.Generator().manual_seed(0)
    train, val, test = _toy_set(20, 0, gen), _toy_set(8, 1, gen), _toy_set(8, 2, gen)
    vocab = fit_vocabulary([r for p in train.pairs for r in (p.chosen, p.rejected)], min_count=1)
    cfg, routing = FitConfig(num_heads=3, alpha=0.1, restarts=1, max_steps=30), RoutingConfig(tau=2.0, eta=8.0)
    words = report(fit(train, val, vocab, 2.0, cfg), val, train, test, vocab, routing, users=3)
    noise = report(fit(train, val, None, 0.0, cfg), val, train, test, None, routing, users=3)
    for key in ("dsp_head_per_type", "relabeled_hh_head_per_type", "dsp_top1_10_labels", "relabeled_hh_10_labels"):
        assert words[key]["value"] == 1.0 and words[key]["low"] <= words[key]["value"] <= words[key]["high"]
        assert noise[key]["value"] < 0.9  # the features are noise: nothing to read without the words
    assert set(words["dsp_top1_10_labels_by_type"]) == {"dsp/academy", "dsp/business"}
