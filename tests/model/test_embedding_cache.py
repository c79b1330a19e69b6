"""The on-disk embedding cache: one folder per way of reading texts (backbone, pooling, window,
chat template, score head), and each distinct text computed once."""

import hashlib
from dataclasses import replace

import torch

from model.backbone import BackboneInfo
from model.embedding_cache import EmbeddingCache, backbone_key, cache_key

PLAIN = BackboneInfo(id="org/encoder", fingerprint="f00d", hidden_size=3, pooling="mean", max_length=256)


def test_plain_backbones_keep_the_key_caches_were_filled_under():
    legacy = hashlib.sha256(b"org/encoder|f00d|mean|256").hexdigest()[:20]
    assert backbone_key(PLAIN) == legacy
    assert backbone_key(replace(PLAIN, kind="decoder", router_max_length=64)) == legacy  # not part of the key


def test_each_way_of_reading_texts_has_its_own_key():
    variants = [
        PLAIN,
        replace(PLAIN, pooling="last"),
        replace(PLAIN, max_length=128),
        replace(PLAIN, chat_template="abcd"),
        replace(PLAIN, chat_template="ef01"),
        replace(PLAIN, score_head=True),
        replace(PLAIN, fingerprint="beef"),
        replace(PLAIN, weights="0123456789abcdef"),  # same config, other weights (fine-tuned in place)
        replace(PLAIN, weights="fedcba9876543210"),
    ]
    assert len({backbone_key(v) for v in variants}) == len(variants)


def test_texts_are_computed_once_and_reloaded_from_disk(tmp_path):
    info = replace(PLAIN, score_head=True)  # rows of d = hidden + 1
    calls = []

    def compute(texts):
        calls.append(list(texts))
        return torch.stack([torch.full((info.dim,), float(len(t))) for t in texts])

    cache = EmbeddingCache(tmp_path, info)
    first = cache.get_or_compute(["a", "bb", "a"], compute)
    assert first.shape == (3, 4) and calls == [["a", "bb"]]
    again = EmbeddingCache(tmp_path, info).get_or_compute(["bb", "a"], compute)
    assert torch.equal(again, first[[1, 0]]) and len(calls) == 1


def test_a_multi_layer_store_refuses_flat_rows_and_skips_shards_that_hold_them(tmp_path):
    import pytest

    layered = replace(PLAIN, layers=(0, 1), layer_combine="mean")
    cache = EmbeddingCache(tmp_path, layered)
    with pytest.raises(ValueError, match=r"\(n, L \+ 1, D\) stacks"):
        cache.get_or_compute(["a"], lambda texts: torch.ones(len(texts), 3))  # a combined (n, D) encode: wrong store
    stale_key = cache_key("a", layered.max_length, layered.max_length)
    torch.save({"keys": [stale_key], "emb": torch.ones(1, 3)}, cache.dir / "shard-0.pt")  # "a" as flat rows, an older run
    stacks = lambda texts: torch.arange(6.0).view(1, 2, 3).repeat(len(texts), 1, 1)  # noqa: E731
    got = EmbeddingCache(tmp_path, layered).get_or_compute(["a"], stacks)
    assert torch.equal(got, torch.tensor([[1.5, 2.5, 3.5]]))  # mean of the two layers
