"""MICRO_BACKEND resolved at startup (service/inference/model_loading.py resolve_backend): torch is
fp32 on CPU, torch-bf16 is refused without the checkpoint's passed record, auto falls back to fp32."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from model import variants
from model.variants import heads_sha256, write_variant
from service.core.config import Settings
from service.inference.model_loading import StartupError, resolve_backend

BACKBONE = {"id": "tiny", "fingerprint": "abc"}


@pytest.fixture
def checkpoint(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setattr(variants, "cpu_has_bf16", lambda: True)
    (tmp_path / "heads.safetensors").write_bytes(b"heads")
    return tmp_path


def settings(checkpoint: Path, backend: str) -> Settings:
    return Settings(checkpoint=checkpoint, backend=backend, device="cpu")


def test_torch_is_fp32_on_cpu(checkpoint: Path):
    assert resolve_backend(settings(checkpoint, "torch"), SimpleNamespace(backbone=BACKBONE)) == ("torch", "auto")


def test_bf16_without_a_passed_record_refuses_to_start(checkpoint: Path):
    with pytest.raises(StartupError, match="model.fit_variant.*MICRO_BACKEND=torch serves fp32"):
        resolve_backend(settings(checkpoint, "torch-bf16"), SimpleNamespace(backbone=BACKBONE))


def test_auto_picks_bf16_once_the_gate_passed(checkpoint: Path):
    config = SimpleNamespace(backbone=BACKBONE)
    assert resolve_backend(settings(checkpoint, "auto"), config) == ("torch", "auto")
    write_variant(checkpoint, {"variant": "torch-bf16", "heads_sha256": heads_sha256(checkpoint),
                               "backbone": BACKBONE, "passed": True, "gate": {}})
    assert resolve_backend(settings(checkpoint, "auto"), config) == ("torch-bf16", "bfloat16")
    assert resolve_backend(settings(checkpoint, "torch-bf16"), config) == ("torch-bf16", "bfloat16")
