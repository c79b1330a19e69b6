"""Test helpers: a tiny checkpoint on the real default backbone, built without loading the
backbone (its identity is a hash of its config.json). Tests use the real Redis at
127.0.0.1:6379, database 15, under a unique key prefix."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import torch

from model.backbone import DEFAULT_BACKBONE_ID, BackboneInfo, default_backbone_path, fingerprint_of
from model.checkpoint import CheckpointConfig, save_checkpoint
from model.heads import MixtureRewardModel

TEST_REDIS_URL = "redis://127.0.0.1:6379/15"
TINY_HEADS = 4


def default_backbone_info(max_length: int = 256) -> BackboneInfo:
    path = default_backbone_path()
    hidden = json.loads((path / "config.json").read_text())["hidden_size"]
    return BackboneInfo(DEFAULT_BACKBONE_ID, fingerprint_of(path), hidden, "mean", max_length)


def make_tiny_checkpoint(directory: Path, *, num_heads: int = TINY_HEADS, seed: int = 0, version: str = "tiny-1") -> Path:
    """K random heads with rewards of order 1 (MiniLM mean-pooled embeddings have norm ~5),
    a weak random router and a fixed bias, so prior weights differ per prompt but stay mixed."""
    info = default_backbone_info()
    gen = torch.Generator().manual_seed(seed)
    model = MixtureRewardModel(info.hidden_size, num_heads)
    with torch.no_grad():
        model.heads.weight.copy_(torch.randn(num_heads, info.hidden_size, generator=gen) * 0.4)
        model.router.weight.copy_(torch.randn(num_heads, info.hidden_size, generator=gen) * 0.1)
        model.router.bias.copy_(torch.linspace(0.3, -0.3, num_heads))
    config = CheckpointConfig(
        backbone=asdict(info),
        num_heads=num_heads,
        dim=info.hidden_size,
        version=version,
        routing={"tau": 1.0, "eta": 1.0, "mode": "mirror", "max_abs_offset": 30.0},
        head_descriptions=[f"random head {k}" for k in range(num_heads)],
        training={"data": "none: hand-set random heads for tests", "seed": seed},
        metrics={},
    )
    return save_checkpoint(directory, model, config)


def key_sha256(key: str) -> str:
    """What MICRO_API_KEYS holds of an API key: its SHA-256, hex."""
    return hashlib.sha256(key.encode()).hexdigest()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def api_keys_setting(*entries: tuple[str, str, str]) -> str:
    """MICRO_API_KEYS for (tenant, scopes, key) entries, e.g. ("a", "read+write", key)."""
    return ",".join(f"{tenant}:{scopes}:{key_sha256(key)}" for tenant, scopes, key in entries)
