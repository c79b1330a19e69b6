"""Multi-layer pooling: several hidden states pooled from the one forward pass, recorded in the
backbone info and the checkpoint, stored once per text in the embedding cache (any selection a
slice), refused on mismatch. Uses the real default backbone (all-MiniLM-L6-v2, 6 layers)."""

from dataclasses import replace

import pytest
import torch

from model.backbone import BackboneError, BackboneInfo, Encoder
from model.checkpoint import CheckpointConfig, CheckpointError, check_backbone, layer_selection, record_settings
from model.embedding_cache import EmbeddingCache, backbone_key
from model.pooling import combine_layers

TEXTS = ["a short text", "a somewhat longer text about preference models and their users", "x"]
PLAIN = BackboneInfo(id="org/encoder", fingerprint="f00d", hidden_size=3, pooling="mean", max_length=256)


@pytest.fixture(scope="module")
def last_layer() -> Encoder:
    return Encoder()


@pytest.fixture(scope="module")
def layers_246() -> Encoder:
    return Encoder(layers=[2, 4, 6])


def test_all_layers_stack_ends_with_the_default_embedding(last_layer):
    stack = last_layer.encode_all_layers(TEXTS)
    assert stack.shape == (3, 7, 384)
    assert torch.allclose(stack[:, -1], last_layer.encode(TEXTS), atol=1e-5)


def test_selected_layers_concatenate_in_order_from_one_forward(last_layer, layers_246):
    stack = last_layer.encode_all_layers(TEXTS)
    got = layers_246.encode(TEXTS)
    assert layers_246.dim == 3 * 384 and got.shape == (3, 1152)
    assert torch.allclose(got, torch.cat([stack[:, 2], stack[:, 4], stack[:, 6]], dim=1), atol=1e-5)


def test_mean_of_layers_keeps_the_hidden_size(last_layer):
    mean_all = Encoder(layers=range(7), layer_combine="mean")
    assert mean_all.dim == 384
    assert torch.allclose(mean_all.encode(TEXTS), last_layer.encode_all_layers(TEXTS).mean(1), atol=1e-5)


def test_a_text_embeds_the_same_alone_or_in_a_batch(layers_246):
    batch = layers_246.encode(TEXTS)
    alone = torch.cat([layers_246.encode([t]) for t in TEXTS])
    assert torch.allclose(batch, alone, atol=1e-4)


def test_bad_layer_selections_are_refused_in_words():
    with pytest.raises(BackboneError, match="0..6"):
        Encoder(layers=[7])
    with pytest.raises(BackboneError, match="distinct"):
        Encoder(layers=[2, 2])
    with pytest.raises(BackboneError, match="concat or mean"):
        Encoder(layers=[2], layer_combine="sum")


def test_default_encoder_record_is_unchanged_and_layers_are_recorded(last_layer, layers_246):
    assert "layers" not in last_layer.info.record() and "layer_combine" not in last_layer.info.record()
    record = layers_246.info.record()
    assert record["layers"] == [2, 4, 6] and record["layer_combine"] == "concat"
    assert layer_selection(record) == ((2, 4, 6), "concat")
    assert layer_selection(last_layer.info.record()) == (None, "concat")


def test_checkpoint_refuses_another_layer_selection(last_layer, layers_246):
    config = CheckpointConfig(backbone=layers_246.info.record(), num_heads=2, dim=layers_246.dim)
    check_backbone(config, layers_246.info)
    with pytest.raises(CheckpointError, match="layer mismatch"):
        check_backbone(config, last_layer.info)
    plain = CheckpointConfig(backbone=last_layer.info.record(), num_heads=2, dim=384)
    check_backbone(plain, last_layer.info)
    with pytest.raises(CheckpointError, match="last layer only"):
        check_backbone(plain, replace(last_layer.info, layers=(6,)))


def test_every_selection_shares_one_all_layers_store_apart_from_the_default():
    keys = {backbone_key(replace(PLAIN, layers=sel, layer_combine=c)) for sel, c in [((2,), "concat"), ((0, 1, 2), "mean")]}
    assert len(keys) == 1 and backbone_key(PLAIN) not in keys


def test_the_cache_stores_every_layer_once_and_returns_each_selection(tmp_path):
    calls = []

    def compute(texts):  # (n, L + 1 = 3, D = 3) stacks
        calls.append(list(texts))
        return torch.stack([torch.arange(9, dtype=torch.float32).view(3, 3) + len(t) for t in texts])

    concat = EmbeddingCache(tmp_path, replace(PLAIN, layers=(0, 2)))
    first = concat.get_or_compute(["a", "bb"], compute)
    assert first.shape == (2, 6) and len(calls) == 1
    mean = EmbeddingCache(tmp_path, replace(PLAIN, layers=(0, 1, 2), layer_combine="mean"))
    got = mean.get_or_compute(["bb", "a"], compute)
    assert len(calls) == 1  # served from the stored stacks, no new forward
    stack = compute(["bb", "a"])
    assert torch.allclose(got, combine_layers(stack, (0, 1, 2), "mean"))
    assert torch.allclose(first, combine_layers(compute(["a", "bb"]), (0, 2), "concat"))


def test_layers_flag_reads_indices_or_all():
    from model.backbone_args import parse_layers

    assert parse_layers(None, None) is None
    assert parse_layers("last", None) is None
    assert parse_layers("2,4,6", None) == [2, 4, 6]
    assert parse_layers("all", None) == list(range(7))


def test_an_encoder_built_from_a_checkpoint_record_reads_the_same_hidden_states(layers_246):
    record = {**layers_246.info.record(), "router_max_length": 64}
    settings = record_settings(record)
    assert settings["layers"] == (2, 4, 6) and settings["layer_combine"] == "concat" and settings["router_max_length"] == 64
    rebuilt = Encoder(**settings)
    assert rebuilt.info.layers == layers_246.info.layers and rebuilt.dim == 1152
    old = record_settings({"pooling": "mean", "max_length": 200})  # a record from before layers and the router window
    assert old["layers"] is None and old["router_max_length"] == 200 and not old["keep_score_head"]


@pytest.mark.parametrize("encoder_name", ["last_layer", "layers_246"])
def test_plain_texts_through_the_cache_match_the_encoder_heads_and_router_alike(encoder_name, request, tmp_path):
    from model.features import embed_texts

    encoder = request.getfixturevalue(encoder_name)
    for _ in range(2):  # computed, then read back from the cache
        assert torch.allclose(embed_texts(TEXTS, encoder, tmp_path), encoder.encode(TEXTS), atol=1e-5)
        assert torch.allclose(embed_texts(TEXTS, encoder, tmp_path, router=True), encoder.encode_router(TEXTS), atol=1e-5)


def test_the_encoder_records_its_weights_digest(last_layer):
    from model.backbone_weights import weights_digest

    assert last_layer.info.weights == weights_digest(last_layer.path) is not None
    assert last_layer.info.record()["weights"] == last_layer.info.weights
