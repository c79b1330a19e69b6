"""The adapted-backbone reference: its batches keep one prompt's pairs together, its cached frozen bottom gives
the encoder's own features, training moves only the top layers, and the saved directory loads as a backbone."""

import json
import random
from types import SimpleNamespace

import pytest
import torch

from evaluation.adapted_backbone import Adapter, batches_by_prompt, feature_scale, joined, main, pair_type
from model.backbone import Encoder
from model.data import PreferencePair


def _pair(prompt: str, chosen: str, rejected: str, user_type: str = "academy") -> PreferencePair:
    return PreferencePair(prompt, chosen, rejected, user_type, "dsp")


def test_batches_keep_a_prompts_pairs_together_and_cover_every_pair_once():
    pairs = [_pair(f"q{i // 3}", f"a{i}", f"b{i}") for i in range(12)]  # four prompts, three pairs each
    batches = batches_by_prompt(pairs, texts_per_batch=7, rng=random.Random(0))
    assert sorted(i for b in batches for i in b) == list(range(12))
    for batch in batches:
        prompts = [pairs[i].prompt for i in batch]
        assert all(prompts.count(p) == 3 for p in set(prompts))  # never a prompt split across batches
    assert [len(b) for b in batches] == [6, 6]  # six distinct texts a prompt: the second one closes a batch of 7
    assert pair_type(pairs[0]) == "dsp/academy"


@pytest.fixture(scope="module")
def encoder():
    return Encoder(max_length=32, layers=list(range(7)))


def test_cached_bottom_gives_the_encoders_features(encoder):
    adapter = Adapter(encoder, ["dsp/academy"], train_layers=2)
    texts = ["a short one", "a much longer text " * 5, "mid length text here"]
    adapter.prepare(texts)
    with torch.no_grad():
        assert torch.allclose(adapter.features(texts), encoder.encode(texts), atol=1e-5)
    pairs = [_pair("q", "a short one", "mid length text here")]
    adapter.prepare([t for texts in joined(encoder, pairs) for t in texts])
    with torch.no_grad():
        adapter.heads.weight.normal_()
    adapter.pair_margins(pairs).sum().backward()
    moved = {n for n, p in adapter.model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert moved and all(n.startswith(("encoder.layer.4.", "encoder.layer.5.")) for n in moved)


def test_training_saves_a_directory_that_loads_as_a_backbone(tmp_path, monkeypatch):
    pairs = [_pair(f"question {i}?", f"A scholarly answer {i}.", f"A casual answer {i}!", t)
             for i in range(16) for t in ("academy", "business")]
    monkeypatch.setattr("evaluation.adapted_backbone.CACHE", tmp_path / "cache")
    monkeypatch.setattr("evaluation.adapted_backbone.load_pairs", lambda names, split: pairs)
    monkeypatch.setattr("evaluation.adapted_backbone.is_validation", lambda prompt: prompt.endswith(("3?", "7?")))
    out = tmp_path / "adapted"
    assert main(["--out", str(out), "--epochs", "1", "--max-length", "32", "--train-layers", "1"]) == 0
    base, adapted = Encoder(max_length=32), Encoder(out, max_length=32)
    base_state, adapted_state = base.model.state_dict(), adapted.model.state_dict()
    changed = {k for k in base_state if not torch.equal(base_state[k], adapted_state[k])}
    assert all(k.startswith("encoder.layer.5.") for k in changed)  # empty when epoch 0 stayed the best
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 1  # the frozen bottom, read again by a rerun
    record = json.loads((out / "adaptation.json").read_text())
    assert [h["epoch"] for h in record["history"]] == [0, 1] and bool(changed) == (record["kept_epoch"] == 1)


def test_feature_scale_floors_a_constant_coordinate():
    # the last layer of all-MiniLM-L6-v2 pools one coordinate to a constant: its spread must not divide by ~0
    x = torch.tensor([[1.0, 5.0, 0.0, 2.0, 0.0], [3.0, 5.0, 2.0, 2.0, 4.0], [5.0, 5.0, 4.0, 2.0, 8.0]])  # 2 0 2 0 4
    stub = SimpleNamespace(encoder=SimpleNamespace(join_pairs=lambda prompts, responses: (list(responses), [])),
                           features=lambda texts: x[[int(t) for t in texts]])
    pairs = [_pair("q", str(i), "r") for i in range(3)]
    assert torch.allclose(feature_scale(stub, pairs), torch.tensor([2.0, 0.2, 2.0, 0.2, 4.0]))  # 0.1 x median 2


def test_the_frozen_bottom_cache_is_keyed_by_the_weights(encoder, tmp_path):
    # an adapted copy keeps its base's config.json: the config alone must not pick the cached states
    texts = ["one text", "another text"]
    Adapter(encoder, ["dsp/academy"], train_layers=2).prepare(texts, tmp_path)
    changed = Encoder(max_length=32, layers=list(range(7)))
    with torch.no_grad():
        changed.model.encoder.layer[0].output.dense.bias.add_(0.5)
    adapter = Adapter(changed, ["dsp/academy"], train_layers=2)
    adapter.prepare(texts, tmp_path)
    assert len(list(tmp_path.glob("*.pt"))) == 2
    with torch.no_grad():
        assert torch.allclose(adapter.features(texts), changed.encode(texts), atol=1e-5)
