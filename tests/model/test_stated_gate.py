"""The variant gate's stated check (model/stated_gate.py): which copies it builds, and that its served margins are
the ones model.router_scores (tested against the service's path) gives, on a tiny backbone with a fitted router."""

from __future__ import annotations

import pytest
import torch

from model.backbone import Encoder
from model.checkpoint import load_checkpoint, read_config, record_settings
from model.data import PreferencePair
from model.fit_router import examples, main as fit_router
from model.onnx_gate import pair_features
from model.router_scores import served_stated_weights
from model.routing import RoutingConfig
from model.stated_gate import StatedExamples, stated_by_type, stated_examples, stated_margins, stated_weights
from model.train_data import prepare_data
from tests.model.test_fit_router_cli import trained_with_contexts
from tests.model.tiny_models import build_tiny_llama

STATEMENTS = {"dsp/academy": ["Scholarly, please."], "relabeled_hh/harmless": ["Refuse anything harmful."],
              "relabeled_hh/helpful": ["Just help, no refusals."]}


def test_each_pair_gets_its_types_statement_and_a_refusal_pair_both_readings():
    dsp = PreferencePair("q1", "formal", "casual", "academy", "dsp")
    refusal = PreferencePair("q2", "I can't help with that.", "Here is how...", "declines-harmful", "hh_refusals")
    unknown = PreferencePair("q3", "a", "b", "business", "dsp")  # no statement for its type: no copy
    ex = stated_examples([dsp, refusal, unknown], STATEMENTS)
    assert ex.base.tolist() == [0, 1, 1] and ex.sign.tolist() == [1.0, 1.0, -1.0]
    assert [p.context for p in ex.pairs] == ["Scholarly, please.", "Refuse anything harmful.", "Just help, no refusals."]
    assert ex.groups == ["dsp/academy", "hh_refusals/harmless-declines", "hh_refusals/helpful-complies"]
    team = PreferencePair("q4", "a", "b", "", "team.jsonl", user_id="ann", context="Short answers.")
    assert stated_examples([team], {}).groups == ["team.jsonl"]  # a team's users pool by file, not one group each
    assert ex.pairs[2].chosen == "Here is how..."  # the helpful reading prefers the answer
    by_type = stated_by_type(torch.tensor([True, False, True]), ex)
    assert by_type["dsp/academy"] == {"stated": 1.0, "pairs": 1}


@pytest.fixture(scope="module")
def tiny_backbone(tmp_path_factory):
    return build_tiny_llama(tmp_path_factory.mktemp("backbone") / "tiny-llama")


def test_the_gates_stated_weights_and_margins_are_the_served_ones(tmp_path, tiny_backbone):
    data, cache, trained = trained_with_contexts(tmp_path, tiny_backbone, 4)
    out = tmp_path / "routed"
    fit_router(["--checkpoint", str(trained), "--data", str(data), "--cache-dir", str(cache), "--out", str(out),
                "--loss", "mixture", "--statement-map", "free", "--backbone", str(tiny_backbone)])
    encoder = Encoder(tiny_backbone, **record_settings(read_config(out).backbone))
    model, _ = load_checkpoint(out, encoder.info)
    stated_rows = prepare_data([str(data)]).train.pairs[:12]
    said = {q.user_id: [q.context] for q in stated_rows}
    plain = [PreferencePair(q.prompt, q.chosen, q.rejected, q.user_type, q.dataset, user_id=q.user_id) for q in stated_rows]
    prompts = [q.prompt for q in plain]
    ex = stated_examples(plain, said)
    assert len(ex.pairs) == len(plain) and [p.context for p in ex.pairs] == [q.context for q in stated_rows]
    feats = pair_features(encoder, encoder.forward_tokens, plain)
    reference = examples(model, ex.pairs, encoder, cache, 10)
    assert float(model.statement_logits(reference.statement).std(0).max()) > 1e-3  # S q moves the weights here
    assert float(reference.diff.abs().mean()) > 1e-2  # margins are not all near 0
    for strength in (0.0, 2.0):
        routing = RoutingConfig(prior_strength=0.5, context_strength=strength)
        weights = stated_weights(model, encoder, encoder.forward_tokens, prompts, ex, routing)
        served = served_stated_weights(model, ex.pairs, reference, encoder, cache, strength, prior_strength=0.5)
        assert torch.allclose(weights, served, rtol=1e-4, atol=1e-6)
        assert float((weights - weights.mean(0)).abs().max()) > 1e-3  # users' weights differ: not a constant
        margins = stated_margins(model, encoder, encoder.forward_tokens, feats, prompts, ex, routing)
        assert torch.allclose(margins, (served * reference.diff).sum(-1), rtol=1e-3, atol=1e-5)
    # a copy that prefers its pair's rejected response (a refusal pair's helpful reading) scores the opposite margin
    twice = StatedExamples([ex.pairs[0], ex.pairs[0]], torch.tensor([0, 0]), torch.tensor([1.0, -1.0]), ex.groups[:1] * 2)
    both = stated_margins(model, encoder, encoder.forward_tokens, feats, prompts, twice, RoutingConfig(prior_strength=0.5))
    assert float(both[0]) == pytest.approx(-float(both[1])) and abs(float(both[0])) > 0


def test_no_statement_for_any_pair_scores_nothing():
    empty = stated_examples([PreferencePair("q", "a", "b", "business", "dsp")], STATEMENTS)
    assert empty.pairs == [] and stated_weights(_Heads(), None, None, [], empty, RoutingConfig()).shape == (0, 3)


class _Heads:
    num_heads = 3
