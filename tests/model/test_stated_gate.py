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
from model.stated_gate import stated_by_type, stated_examples, stated_margins
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
    assert ex.groups[0] == "dsp/academy" and ex.groups[1] != ex.groups[2]
    assert ex.pairs[2].chosen == "Here is how..."  # the helpful reading prefers the answer
    by_type = stated_by_type(torch.tensor([True, False, True]), ex)
    assert by_type["dsp/academy"] == {"stated": 1.0, "pairs": 1}


@pytest.fixture(scope="module")
def tiny_backbone(tmp_path_factory):
    return build_tiny_llama(tmp_path_factory.mktemp("backbone") / "tiny-llama")


def test_the_gates_stated_margins_are_the_served_ones(tmp_path, tiny_backbone):
    data, cache, trained = trained_with_contexts(tmp_path, tiny_backbone, 4)
    out = tmp_path / "routed"
    fit_router(["--checkpoint", str(trained), "--data", str(data), "--cache-dir", str(cache), "--out", str(out),
                "--loss", "mixture", "--statement-map", "free", "--backbone", str(tiny_backbone)])
    encoder = Encoder(tiny_backbone, **record_settings(read_config(out).backbone))
    model, _ = load_checkpoint(out, encoder.info)
    stated_rows = prepare_data([str(data)]).train.pairs[:12]
    said = {q.user_id: [q.context] for q in stated_rows}
    plain = [PreferencePair(q.prompt, q.chosen, q.rejected, q.user_type, q.dataset, user_id=q.user_id) for q in stated_rows]
    ex = stated_examples(plain, said)
    assert len(ex.pairs) == len(plain) and [p.context for p in ex.pairs] == [q.context for q in stated_rows]
    feats = pair_features(encoder, encoder.forward_tokens, plain)
    for strength in (0.0, 2.0):
        routing = RoutingConfig(prior_strength=0.5, context_strength=strength)
        got = stated_margins(model, encoder, encoder.forward_tokens, feats, [q.prompt for q in plain], ex, routing)
        reference = examples(model, ex.pairs, encoder, cache, 10)
        weights = served_stated_weights(model, ex.pairs, reference, encoder, cache, strength, prior_strength=0.5)
        assert torch.allclose(got, (weights * reference.diff).sum(-1), atol=1e-4)
