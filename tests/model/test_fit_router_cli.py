"""python -m model.fit_router on a team's file: each row's context column is a stated preference, the heads
stay as trained, the router, version and training.router_fit record are rewritten (tiny backbone, seconds)."""

from __future__ import annotations

import json
import random

import pytest
import torch

from model.checkpoint import CONFIG_FILE, load_checkpoint
from model.fit_router import main as fit_router
from model.train import main as train
from tests.model.pair_fixtures import write
from tests.model.tiny_models import build_tiny_llama, sentence, tiny_rows

FAST = ["--heads", "2", "--restarts", "1", "--max-steps", "200", "--threads", "1"]


@pytest.fixture(scope="module")
def tiny_backbone(tmp_path_factory):
    return build_tiny_llama(tmp_path_factory.mktemp("backbone") / "tiny-llama")


def trained_with_contexts(tmp_path, tiny_backbone, seed: int):
    """A team file whose two users each state one context, and a checkpoint trained on it."""
    rng = random.Random(seed)
    said = {"ann": sentence(rng, 5), "bob": sentence(rng, 5)}
    rows = [{**r, "context": said[r["user_id"]]} for r in tiny_rows(96)]
    data, cache, trained = write(tmp_path / "team.jsonl", rows), tmp_path / "cache", tmp_path / "trained"
    train(["--data", str(data), "--backbone", str(tiny_backbone), "--cache-dir", str(cache), "--out", str(trained), *FAST])
    return data, cache, trained


def routed_with_contexts(tmp_path, tiny_backbone, seed: int, head_scale: str):
    """The tiny team file's checkpoint before and after ``model.fit_router --loss mixture --head-scale ...``:
    (after, its config, before, its config, the trained checkpoint's directory)."""
    data, cache, trained = trained_with_contexts(tmp_path, tiny_backbone, seed)
    out = tmp_path / "routed"
    fit_router(["--checkpoint", str(trained), "--data", str(data), "--cache-dir", str(cache), "--out", str(out),
                "--loss", "mixture", "--head-scale", head_scale, "--backbone", str(tiny_backbone)])
    return (*load_checkpoint(out), *load_checkpoint(trained), trained)


def test_a_team_files_contexts_train_the_router_and_the_heads_stay(tmp_path, capsys, tiny_backbone):
    after, config, before, before_config, trained = routed_with_contexts(tmp_path, tiny_backbone, 1, "raw")
    assert torch.equal(after.head_matrix(), before.head_matrix())
    assert not torch.equal(after.router.weight, before.router.weight)
    record = config.training["router_fit"]
    assert record["examples"]["fit"] > 0 and {g["loss"] for g in record["grid"]} == {"mixture"}
    assert set(record["validation"]["stated"]) <= {"ann", "bob"} and record["validation"]["stated"]
    assert config.version != before_config.version and config.routing["prior_strength"] == 1.0
    assert str(config.routing["context_strength"]) in record["context_strength"]["validation"]
    assert json.loads((trained / CONFIG_FILE).read_text())["version"] == before_config.version  # --out: kept
    printed = capsys.readouterr().out
    assert "router fitted" in printed and "fit_variant" in printed and "online_choice" in printed
    assert float(after.statement_router.weight.abs().sum()) > 0  # the contexts are read on their own too
    assert record["head_scale"]["chosen"] == "raw" and record["head_scale"]["factors"] == [1.0, 1.0]
    # S was fitted both ways (free, and through the users' statement basis: two rows, ann and bob); the better kept
    smap = record["statement_map"]
    assert set(smap["validation"]) == {"free", "basis"} and smap["basis_rows"] == 2
    assert smap["validation"][smap["chosen"]] == record["validation"]["criterion"]
    assert {g["statement_map"] for g in record["grid"]} == {"free", "basis"}


def test_equal_head_scale_rescales_each_head_and_records_the_factors(tmp_path, tiny_backbone):
    after, config, before, _, _ = routed_with_contexts(tmp_path, tiny_backbone, 2, "equal")
    factors = torch.tensor(config.training["router_fit"]["head_scale"]["factors"])
    assert config.training["router_fit"]["head_scale"]["chosen"] == "equal"
    assert torch.allclose(after.head_matrix(), before.head_matrix() * factors[:, None], rtol=1e-4, atol=1e-6)
    assert float(factors.log().sum()) == pytest.approx(0.0, abs=1e-4)  # geometric mean 1: overall scale kept


def test_a_destination_is_required_and_no_statement_is_a_clear_error(tmp_path, tiny_backbone):
    data, cache, trained = write(tmp_path / "team.jsonl", tiny_rows(96)), tmp_path / "cache", tmp_path / "trained"
    with pytest.raises(SystemExit) as info:
        fit_router(["--checkpoint", str(trained)])
    assert info.value.code == 2  # argparse: --out or --in-place is required
    train(["--data", str(data), "--backbone", str(tiny_backbone), "--cache-dir", str(cache), "--out", str(trained), *FAST])
    with pytest.raises(SystemExit, match="no stated preferences"):
        fit_router(["--checkpoint", str(trained), "--data", str(data), "--cache-dir", str(cache),
                    "--out", str(tmp_path / "x"), "--backbone", str(tiny_backbone)])


def test_stated_accuracy_weighs_a_statement_as_the_service_does(tmp_path, tiny_backbone):
    # model.fit_router's served weights (evaluation.stated_validation's figures) against the service's own path,
    # one pair at a time: w = softmax(s (R p + b) + with_stated_context(...)), model/personal_scoring.py
    from model.backbone import Encoder
    from model.checkpoint import read_config, record_settings
    from model.features import embed_texts, router_text
    from model.fit_router import examples
    from model.router_scores import served_stated_weights
    from model.personal_scoring import with_stated_context
    from model.routing import NEUTRAL_CONTEXT, RoutingConfig
    from model.train_data import prepare_data

    data, cache, _ = trained_with_contexts(tmp_path, tiny_backbone, 3)
    out = tmp_path / "routed"
    fit_router(["--checkpoint", str(tmp_path / "trained"), "--data", str(data), "--cache-dir", str(cache), "--out",
                str(out), "--loss", "mixture", "--statement-map", "free", "--backbone", str(tiny_backbone)])
    encoder = Encoder(tiny_backbone, **record_settings(read_config(out).backbone))
    model, _ = load_checkpoint(out, encoder.info)
    pairs = [q for q in prepare_data([str(data)]).train.pairs if q.context][:12]
    ex = examples(model, pairs, encoder, cache, 10)
    model.prior_strength = 0.5
    for c in (0.0, 2.0):
        got = served_stated_weights(model, pairs, ex, encoder, cache, c, prior_strength=0.5)
        for i, q in enumerate(pairs):
            offset = with_stated_context(model, embed_texts([q.context, NEUTRAL_CONTEXT], encoder, cache), None,
                                         RoutingConfig(context_strength=c))
            prompt = embed_texts([router_text(q.prompt, q.context)], encoder, cache, router=True)
            assert torch.allclose(got[i], model.log_weights(prompt, offset).exp()[0], atol=1e-5)
    assert not torch.allclose(served_stated_weights(model, pairs, ex, encoder, cache, 0.0, prior_strength=1.0),
                              served_stated_weights(model, pairs, ex, encoder, cache, 0.0, prior_strength=0.5))
