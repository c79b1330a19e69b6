"""Checkpoint round trip and the clear errors for corrupt or mismatched checkpoints."""

import json
from dataclasses import asdict, replace

import pytest
import torch

from model.backbone import BackboneInfo
from model.checkpoint import WEIGHTS_FILE, CheckpointConfig, CheckpointError, load_checkpoint, save_checkpoint
from model.heads import MixtureRewardModel

INFO = BackboneInfo(id="tiny/backbone", fingerprint="f00d", hidden_size=3, pooling="mean", max_length=16)


def saved(tmp_path, info=INFO, k=2):
    torch.manual_seed(0)
    model = MixtureRewardModel(info.dim, k)
    torch.nn.init.normal_(model.heads.weight)
    torch.nn.init.normal_(model.router.weight)
    cfg = CheckpointConfig(backbone=asdict(info), num_heads=k, dim=info.dim, version="test-1")
    save_checkpoint(tmp_path, model, cfg)
    return model


def test_round_trip_keeps_weights_and_config(tmp_path):
    original = saved(tmp_path)
    loaded, cfg = load_checkpoint(tmp_path, INFO)
    for name, tensor in original.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name])
    assert cfg.num_heads == 2 and cfg.dim == 3 and cfg.version == "test-1"
    assert cfg.routing_config().tau > 0


def test_statement_router_round_trips_and_reads_as_zeros_when_absent(tmp_path):
    from safetensors.torch import load_file

    original = saved(tmp_path)  # never fitted: not written
    assert "statement_router.weight" not in load_file(str(tmp_path / WEIGHTS_FILE))
    loaded, _ = load_checkpoint(tmp_path, INFO)
    assert torch.equal(loaded.statement_router.weight, torch.zeros(2, 3))
    torch.nn.init.normal_(original.statement_router.weight)
    save_checkpoint(tmp_path, original, CheckpointConfig(backbone=asdict(INFO), num_heads=2, dim=3, version="t"))
    loaded, _ = load_checkpoint(tmp_path, INFO)
    assert torch.equal(loaded.statement_router.weight, original.statement_router.weight)


def test_a_router_of_another_width_than_the_heads_is_never_written(tmp_path):
    model = MixtureRewardModel(dim=3, num_heads=2, router_dim=2)
    with pytest.raises(CheckpointError, match="router reads 2 features and the heads 3"):
        save_checkpoint(tmp_path, model, CheckpointConfig(backbone=asdict(INFO), num_heads=2, dim=3, version="t"))
    assert not (tmp_path / WEIGHTS_FILE).exists()


def test_wrong_embedding_size_is_refused_naming_both_sizes(tmp_path):
    saved(tmp_path)
    with pytest.raises(CheckpointError, match=r"embedding size mismatch.*d=3.*d=5"):
        load_checkpoint(tmp_path, replace(INFO, hidden_size=5))


def test_other_backbone_is_refused_naming_both(tmp_path):
    saved(tmp_path)
    with pytest.raises(CheckpointError, match=r"backbone mismatch.*tiny/backbone.*other/model"):
        load_checkpoint(tmp_path, replace(INFO, id="other/model", fingerprint="beef"))


def test_other_pooling_is_refused(tmp_path):
    saved(tmp_path)
    with pytest.raises(CheckpointError, match="pooling mismatch"):
        load_checkpoint(tmp_path, replace(INFO, pooling="cls"))


def test_other_max_length_is_refused_naming_both(tmp_path):
    saved(tmp_path)
    with pytest.raises(CheckpointError, match=r"max length mismatch.*16-token.*reads 8 tokens"):
        load_checkpoint(tmp_path, replace(INFO, max_length=8))


def test_other_chat_template_is_refused_naming_both(tmp_path):
    templated = replace(INFO, kind="decoder", pooling="last", chat_template="aaaa1111")
    saved(tmp_path, templated)
    with pytest.raises(CheckpointError, match=r"chat template mismatch.*template aaaa1111.*template bbbb2222"):
        load_checkpoint(tmp_path, replace(templated, chat_template="bbbb2222"))
    with pytest.raises(CheckpointError, match=r"chat template mismatch.*aaaa1111.*no chat template"):
        load_checkpoint(tmp_path, replace(templated, chat_template=None))


def test_template_on_a_plain_checkpoint_is_refused(tmp_path):
    saved(tmp_path)
    with pytest.raises(CheckpointError, match=r"chat template mismatch.*no chat template.*template cccc"):
        load_checkpoint(tmp_path, replace(INFO, chat_template="cccc"))


def test_score_head_checkpoint_needs_the_score_head(tmp_path):
    with_head = replace(INFO, hidden_size=2, score_head=True)  # d = 2 hidden + 1 score
    saved(tmp_path, with_head)
    with pytest.raises(CheckpointError, match=r"score head mismatch.*score_head=True.*score_head=False"):
        load_checkpoint(tmp_path, replace(with_head, score_head=False))
    load_checkpoint(tmp_path, with_head)


def test_checkpoints_from_before_templates_load_as_plain_text(tmp_path):
    saved(tmp_path)
    raw = json.loads((tmp_path / "config.json").read_text())
    for key in ("kind", "chat_template", "score_head"):
        raw["backbone"].pop(key)
    (tmp_path / "config.json").write_text(json.dumps(raw))
    load_checkpoint(tmp_path, INFO)


def test_corrupt_weights_file_is_refused(tmp_path):
    saved(tmp_path)
    (tmp_path / "heads.safetensors").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_checkpoint(tmp_path, INFO)


def test_corrupt_config_is_refused(tmp_path):
    saved(tmp_path)
    (tmp_path / "config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(tmp_path, INFO)


def test_config_and_tensor_shapes_must_agree(tmp_path):
    saved(tmp_path)
    raw = json.loads((tmp_path / "config.json").read_text())
    raw["num_heads"] = 4
    (tmp_path / "config.json").write_text(json.dumps(raw))
    with pytest.raises(CheckpointError, match=r"shape \(2, 3\).*\(4, 3\)"):
        load_checkpoint(tmp_path, INFO)


def test_missing_checkpoint_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match="no config.json"):
        load_checkpoint(tmp_path / "nowhere", INFO)


def test_shipped_default_checkpoint_loads_on_the_default_backbone_identity():
    from model.backbone import default_backbone_path, fingerprint_of
    from model.checkpoint import layer_selection
    from model.paths import DEFAULT_CHECKPOINT

    root = DEFAULT_CHECKPOINT
    cfg_raw = json.loads((root / "config.json").read_text())
    layers, combine = layer_selection(cfg_raw["backbone"])  # the hidden states the shipped heads read
    info = BackboneInfo(
        id="sentence-transformers/all-MiniLM-L6-v2",
        fingerprint=fingerprint_of(default_backbone_path()),
        hidden_size=384,
        pooling="mean",
        max_length=cfg_raw["backbone"]["max_length"],
        layers=layers,
        layer_combine=combine,
    )
    model, cfg = load_checkpoint(root, info)
    assert cfg.num_heads == model.num_heads >= 2
    assert len(cfg.head_descriptions) == cfg.num_heads
