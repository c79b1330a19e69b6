"""Checkpoint = ``heads.safetensors`` (H, R, b) + ``config.json`` (everything else).

The config names the backbone the heads were trained on; :func:`load_checkpoint` refuses
a checkpoint whose backbone identity or embedding size differs, with the mismatch in words.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from model.backbone import BackboneInfo
from model.heads import MixtureRewardModel
from model.routing import RoutingConfig

FORMAT_VERSION = 1
WEIGHTS_FILE = "heads.safetensors"
CONFIG_FILE = "config.json"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupt, or does not fit the backbone it is used with."""


@dataclass
class CheckpointConfig:
    backbone: dict[str, Any]  # BackboneInfo fields: id, fingerprint, hidden_size, pooling, max_length
    num_heads: int
    dim: int
    router: str = "linear"  # "linear" or "none" (static mixture)
    version: str = "0"  # model version: namespaces users' state in the service
    routing: dict[str, Any] = field(default_factory=lambda: asdict(RoutingConfig()))
    head_descriptions: list[str] = field(default_factory=list)
    training: dict[str, Any] = field(default_factory=dict)  # data, seed, hyper-parameters
    metrics: dict[str, Any] = field(default_factory=dict)  # validation / test figures
    format_version: int = FORMAT_VERSION

    def routing_config(self) -> RoutingConfig:
        return RoutingConfig(**self.routing)


def save_checkpoint(directory: Path, model: MixtureRewardModel, config: CheckpointConfig) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {
        "heads.weight": model.heads.weight.detach().cpu().contiguous(),
        "router.weight": model.router.weight.detach().cpu().contiguous(),
        "router.bias": model.router.bias.detach().cpu().contiguous(),
    }
    save_file(tensors, str(directory / WEIGHTS_FILE))
    (directory / CONFIG_FILE).write_text(json.dumps(asdict(config), indent=2) + "\n", encoding="utf-8")
    return directory


def read_config(directory: Path) -> CheckpointConfig:
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(f"checkpoint {directory} has no {CONFIG_FILE}")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        config = CheckpointConfig(**raw)
    except (json.JSONDecodeError, TypeError) as exc:
        raise CheckpointError(f"checkpoint config {path} is corrupt: {exc}") from exc
    if config.format_version != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint format {config.format_version} is not supported (expected {FORMAT_VERSION})")
    return config


def check_backbone(config: CheckpointConfig, backbone: BackboneInfo) -> None:
    """Refuse heads trained on another backbone, naming what differs."""
    want = config.backbone
    if int(want.get("hidden_size", -1)) != backbone.hidden_size:
        raise CheckpointError(
            f"embedding size mismatch: checkpoint expects d={want.get('hidden_size')} "
            f"(backbone {want.get('id')}), the loaded backbone {backbone.id} gives d={backbone.hidden_size}"
        )
    if want.get("fingerprint") != backbone.fingerprint or want.get("id") != backbone.id:
        raise CheckpointError(
            f"backbone mismatch: checkpoint was trained on {want.get('id')} "
            f"(fingerprint {want.get('fingerprint')}), the loaded backbone is {backbone.id} "
            f"(fingerprint {backbone.fingerprint})"
        )
    if want.get("pooling") != backbone.pooling:
        raise CheckpointError(f"pooling mismatch: checkpoint uses {want.get('pooling')}, encoder uses {backbone.pooling}")


def load_checkpoint(
    directory: Path, backbone: BackboneInfo | None = None
) -> tuple[MixtureRewardModel, CheckpointConfig]:
    directory = Path(directory)
    config = read_config(directory)
    if backbone is not None:
        check_backbone(config, backbone)
    try:
        tensors = load_file(str(directory / WEIGHTS_FILE))
    except (FileNotFoundError, SafetensorError, OSError) as exc:
        raise CheckpointError(f"checkpoint weights {directory / WEIGHTS_FILE} cannot be read: {exc}") from exc
    expected = {
        "heads.weight": (config.num_heads, config.dim),
        "router.weight": (config.num_heads, config.dim),
        "router.bias": (config.num_heads,),
    }
    for name, shape in expected.items():
        if name not in tensors:
            raise CheckpointError(f"checkpoint weights lack {name}")
        if tuple(tensors[name].shape) != shape:
            raise CheckpointError(
                f"checkpoint tensor {name} has shape {tuple(tensors[name].shape)}, config says {shape} "
                f"(K={config.num_heads}, d={config.dim})"
            )
        if not torch.isfinite(tensors[name]).all():
            raise CheckpointError(f"checkpoint tensor {name} holds NaN or infinite values")
    model = MixtureRewardModel(config.dim, config.num_heads, router=config.router)  # type: ignore[arg-type]
    model.load_state_dict(tensors)
    model.eval().requires_grad_(False)
    return model, config
