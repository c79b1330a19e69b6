"""Which backbone variant a checkpoint may be served with (model/variants.py): fp32 always; another
only with a passed record measured on the same heads and backbone; MICRO_BACKEND=auto falls back
to fp32 and says why."""

from __future__ import annotations

from pathlib import Path

import pytest

from model import variants
from model.variants import VariantError, auto_backend, check_variant, heads_sha256, write_variant

BACKBONE = {"id": "tiny", "fingerprint": "abc", "hidden_size": 8}


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    (tmp_path / "heads.safetensors").write_bytes(b"heads v1")
    return tmp_path


def record(directory: Path, passed: bool = True, **extra) -> dict:
    return {"variant": "torch-bf16", "heads_sha256": heads_sha256(directory), "backbone": BACKBONE,
            "passed": passed, "gate": {"failures": [] if passed else ["academy pairwise"]}, **extra}


def test_a_variant_without_a_record_is_refused_naming_the_command(checkpoint: Path):
    with pytest.raises(VariantError, match="python -m model.fit_variant --checkpoint .* --variant torch-bf16"):
        check_variant(checkpoint, "torch-bf16", BACKBONE)


def test_a_passed_current_record_allows_the_variant(checkpoint: Path):
    write_variant(checkpoint, record(checkpoint))
    assert check_variant(checkpoint, "torch-bf16", BACKBONE)["passed"]


def test_a_failed_gate_is_refused(checkpoint: Path):
    write_variant(checkpoint, record(checkpoint, passed=False))
    with pytest.raises(VariantError, match="failed the accuracy gate"):
        check_variant(checkpoint, "torch-bf16", BACKBONE)


def test_a_record_of_other_heads_is_refused(checkpoint: Path):
    write_variant(checkpoint, record(checkpoint))
    (checkpoint / "heads.safetensors").write_bytes(b"heads v2: a retrained router")
    with pytest.raises(VariantError, match="heads changed"):
        check_variant(checkpoint, "torch-bf16", BACKBONE)


def test_a_record_of_another_backbone_is_refused(checkpoint: Path):
    write_variant(checkpoint, record(checkpoint))
    with pytest.raises(VariantError, match="measured on backbone"):
        check_variant(checkpoint, "torch-bf16", {**BACKBONE, "fingerprint": "other"})


def test_a_record_of_other_weights_is_refused_and_one_from_before_the_digest_is_not(checkpoint: Path):
    write_variant(checkpoint, record(checkpoint, backbone={**BACKBONE, "weights": "1111"}))
    assert check_variant(checkpoint, "torch-bf16", {**BACKBONE, "weights": "1111"})["passed"]
    with pytest.raises(VariantError, match="measured on backbone"):  # the same config, fine-tuned in place
        check_variant(checkpoint, "torch-bf16", {**BACKBONE, "weights": "2222"})
    assert check_variant(checkpoint, "torch-bf16", BACKBONE)["passed"]  # a checkpoint from before the digest


def test_auto_serves_bf16_only_with_a_record_and_the_instructions(checkpoint: Path, monkeypatch):
    monkeypatch.setattr(variants, "cpu_has_bf16", lambda: True)
    assert auto_backend(checkpoint, BACKBONE, "cpu")[0] == "torch"  # no record yet
    write_variant(checkpoint, record(checkpoint))
    assert auto_backend(checkpoint, BACKBONE, "cpu")[0] == "torch-bf16"
    assert auto_backend(checkpoint, BACKBONE, "cuda")[0] == "torch"  # GPUs: MICRO_DTYPE decides
    monkeypatch.setattr(variants, "cpu_has_bf16", lambda: False)
    assert auto_backend(checkpoint, BACKBONE, "cpu")[0] == "torch"


def test_an_unreadable_variants_file_is_a_variant_error_naming_it(tmp_path):
    from model.variants import VARIANTS_FILE, VariantError, read_variants

    (tmp_path / VARIANTS_FILE).write_text("{not json")
    with pytest.raises(VariantError, match=VARIANTS_FILE):
        read_variants(tmp_path)


def test_a_record_measured_under_other_routing_is_refused(checkpoint: Path, monkeypatch):
    # the stated check's figures depend on the prior's and the pseudo-label's strengths: a record keeps them
    now = {"prior_strength": 0.5, "context_strength": 0.0}
    monkeypatch.setattr(variants, "routing_strengths", lambda directory: now)
    stated = {"pairs": 4, "by_type": {}, "routing": dict(now)}
    write_variant(checkpoint, record(checkpoint, gate={"failures": [], "stated": stated}))
    assert check_variant(checkpoint, "torch-bf16", BACKBONE)["passed"]
    now["prior_strength"] = 1.0  # e.g. evaluation.online_choice --write-checkpoint chose another prior
    with pytest.raises(VariantError, match="routing changed since torch-bf16 was measured"):
        check_variant(checkpoint, "torch-bf16", BACKBONE)
    # a record written before the stated check carries no routing: accepted for its heads
    write_variant(checkpoint, record(checkpoint))
    assert check_variant(checkpoint, "torch-bf16", BACKBONE)["passed"]
