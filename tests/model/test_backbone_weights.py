"""A backbone's weights digest: a model fine-tuned in place (same config.json) is told apart from the one it started
as, by the checkpoint check, the embedding cache and the feature shards; records from before the digest still load."""

import json
import os
import time
from dataclasses import asdict, replace

import pytest
import torch

from model.backbone import BackboneInfo
from model.backbone_weights import same_backbone, weight_files, weights_digest
from model.checkpoint import CheckpointConfig, CheckpointError, load_checkpoint, save_checkpoint
from model.feature_shards import recipe_differences
from model.heads import MixtureRewardModel

INFO = BackboneInfo(id="tiny/backbone", fingerprint="f00d", hidden_size=3, pooling="mean", max_length=16,
                    weights="1111111111111111")


def model_dir(tmp_path, weights: bytes = b"\x00" * 64):
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "config.json").write_text('{"hidden_size": 3}')
    (tmp_path / "model.safetensors").write_bytes(weights)
    (tmp_path / "tokenizer.json").write_text("{}")
    return tmp_path


def test_digest_reads_the_weights_from_pretrained_loads_only(tmp_path):
    d = model_dir(tmp_path)
    assert [f.name for f in weight_files(d)] == ["model.safetensors"]
    before = weights_digest(d)
    assert before is not None and len(before) == 16
    (d / "tokenizer.json").write_text('{"changed": true}')
    (d / "config.json").write_text('{"hidden_size": 3, "note": "x"}')
    # an unchanged model with copies it is never loaded from, as a full hub snapshot or a Trainer output has
    for extra in ("pytorch_model.bin", "tf_model.h5", "flax_model.msgpack", "training_args.bin"):
        (d / extra).write_bytes(b"\x07" * 16)
    assert weights_digest(d) == before


def test_same_size_other_bytes_change_the_digest(tmp_path):
    d = model_dir(tmp_path)
    before = weights_digest(d)
    st = (d / "model.safetensors").stat()
    time.sleep(0.05)  # file times move in clock ticks of a few milliseconds
    (d / "model.safetensors").write_bytes(b"\x00" * 63 + b"\x01")  # fine-tuned in place: same size, same config
    # a long-running process that hashed the file before, its old modification time put back (a copy keeping it):
    # the change time moved with the write, so the memo is not used
    os.utime(d / "model.safetensors", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert weights_digest(d) != before


def test_sharded_weights_are_read_through_their_index(tmp_path):
    d = tmp_path / "m"
    d.mkdir()
    (d / "config.json").write_text("{}")
    index = {"weight_map": {"a.weight": "model-00001-of-00002.safetensors",
                            "b.weight": "model-00002-of-00002.safetensors"}}
    (d / "model.safetensors.index.json").write_text(json.dumps(index))
    (d / "model-00001-of-00002.safetensors").write_bytes(b"\x01" * 8)
    (d / "model-00002-of-00002.safetensors").write_bytes(b"\x02" * 8)
    assert [f.name for f in weight_files(d)] == ["model.safetensors.index.json", "model-00001-of-00002.safetensors",
                                                 "model-00002-of-00002.safetensors"]
    one = weights_digest(d)
    (d / "model-00002-of-00002.safetensors").write_bytes(b"\x03" * 8)
    assert weights_digest(d) != one


def test_pytorch_weights_count_when_there_is_no_safetensors_and_none_means_unknown(tmp_path):
    d = tmp_path / "bin"
    d.mkdir()
    (d / "pytorch_model.bin").write_bytes(b"\x05" * 8)
    assert [f.name for f in weight_files(d)] == ["pytorch_model.bin"] and weights_digest(d)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.json").write_text("{}")
    assert weight_files(empty) == [] and weights_digest(empty) is None


def test_records_agree_on_weights_only_when_both_know_them():
    new = INFO.record()
    legacy = {k: v for k, v in new.items() if k != "weights"}
    assert "weights" in new and same_backbone(legacy, new) and same_backbone(new, legacy)
    other = replace(INFO, weights="2222222222222222").record()
    assert not same_backbone(new, other)
    assert not same_backbone(legacy, replace(INFO, fingerprint="beef").record())
    assert "weights" not in replace(INFO, weights=None).record()  # unknown weights: the record it always had


def saved(tmp_path, record: dict):
    model = MixtureRewardModel(INFO.dim, 2)
    save_checkpoint(tmp_path, model, CheckpointConfig(backbone=record, num_heads=2, dim=INFO.dim, version="t"))


def test_checkpoint_refuses_heads_trained_on_other_weights_naming_both(tmp_path):
    saved(tmp_path, INFO.record())
    load_checkpoint(tmp_path, INFO)
    with pytest.raises(CheckpointError, match=r"weights differ.*1111111111111111 then, 2222222222222222 now"):
        load_checkpoint(tmp_path, replace(INFO, weights="2222222222222222"))


def test_checkpoint_written_before_the_digest_still_loads(tmp_path):
    legacy = {k: v for k, v in asdict(INFO).items() if k != "weights"}
    saved(tmp_path, legacy)
    load_checkpoint(tmp_path, replace(INFO, weights="2222222222222222"))


def test_feature_recipes_compare_weights_when_both_record_them():
    have = INFO.record()
    assert recipe_differences(have, replace(INFO, weights="2222222222222222").record()) == [
        "weights '1111111111111111' -> '2222222222222222'"]
    legacy = {k: v for k, v in have.items() if k != "weights"}
    assert recipe_differences(legacy, have) == []


def test_the_shipped_checkpoint_records_the_packaged_backbone_weights():
    from model.backbone import default_backbone_path
    from model.paths import DEFAULT_CHECKPOINT

    recorded = json.loads((DEFAULT_CHECKPOINT / "config.json").read_text())["backbone"]["weights"]
    assert recorded == weights_digest(default_backbone_path())
    variants = json.loads((DEFAULT_CHECKPOINT / "variants.json").read_text())
    assert all(v["backbone"]["weights"] == recorded for v in variants.values() if "backbone" in v)
