"""Checkpoint = ``heads.safetensors`` (H, R, b, and S once model.fit_router fits it) + ``config.json`` (everything else).

The config names the backbone the heads were trained on; :func:`load_checkpoint` refuses
a checkpoint whose backbone identity or embedding size differs, with the mismatch in words.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from model.backbone import BackboneInfo
from model.backbone_weights import weights_difference
from model.heads import MixtureRewardModel
from model.pooling import LayerCombine
from model.routing import RoutingConfig

FORMAT_VERSION = 1
WEIGHTS_FILE = "heads.safetensors"
CONFIG_FILE = "config.json"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupt, or does not fit the backbone it is used with."""


@dataclass
class CheckpointConfig:
    # BackboneInfo fields: id, fingerprint, hidden_size, pooling, max_length, kind, chat_template, score_head
    # (+ layers, layer_combine when several hidden states are pooled; + weights, the weight files' digest)
    backbone: dict[str, Any]
    num_heads: int
    dim: int
    router: str = "linear"  # "linear" or "none" (static mixture)
    version: str = "0"  # model version: namespaces users' state in the service
    routing: dict[str, Any] = field(default_factory=lambda: asdict(RoutingConfig()))
    head_descriptions: list[str] = field(default_factory=list)
    head_cards: list[dict[str, Any]] = field(default_factory=list)  # model/head_cards.py; [] in older checkpoints
    training: dict[str, Any] = field(default_factory=dict)  # data, seed, hyper-parameters
    metrics: dict[str, Any] = field(default_factory=dict)  # validation / test figures
    format_version: int = FORMAT_VERSION
    # the frozen expert head, when a reward model's own score head was kept (--keep-score-head):
    # {"head": index among the num_heads, "source": backbone id, "kind": "score_head"}; None without one
    expert: dict[str, Any] | None = None

    def routing_config(self) -> RoutingConfig:
        return RoutingConfig(**self.routing)


FILE_MODE = 0o644  # readable by any uid: a container may mount the checkpoint read-only as another user
DIR_MODE = 0o755


def make_directory(directory: Path) -> None:
    """``mkdir -p``; the checkpoint directory and the parents it creates get DIR_MODE whatever the umask."""
    missing = [d for d in directory.parents if not d.exists()]
    directory.mkdir(parents=True, exist_ok=True)
    for path in (directory, *missing):
        if path.stat().st_uid == os.getuid():  # an existing directory of another user keeps its mode
            path.chmod(DIR_MODE)


STATEMENT_ROUTER = "statement_router.weight"  # optional: checkpoints before it read as zeros


def save_checkpoint(directory: Path, model: MixtureRewardModel, config: CheckpointConfig) -> Path:
    if model.router.in_features != model.dim:  # loading reads one width: never write what it would refuse
        raise CheckpointError(f"the router reads {model.router.in_features} features and the heads {model.dim}: "
                              "a checkpoint keeps one width")
    directory = Path(directory)
    make_directory(directory)
    tensors = {
        "heads.weight": model.head_matrix().detach().cpu().contiguous(),  # (K, D), a frozen expert's row included
        "router.weight": model.router.weight.detach().cpu().contiguous(),
        "router.bias": model.router.bias.detach().cpu().contiguous(),
    }
    if bool(model.statement_router.weight.any()):  # written once fitted (model.fit_router); absent = zeros
        tensors[STATEMENT_ROUTER] = model.statement_router.weight.detach().cpu().contiguous()
    save_file(tensors, str(directory / WEIGHTS_FILE))
    (directory / CONFIG_FILE).write_text(json.dumps(asdict(config), indent=2) + "\n", encoding="utf-8")
    for name in (WEIGHTS_FILE, CONFIG_FILE):
        (directory / name).chmod(FILE_MODE)  # safetensors writes 0600
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
    check_numbers(config, path)
    return config


def update_config(directory: Path, **fields: Any) -> Path:
    """Set top-level fields of a checkpoint's config.json (written to a temporary file, then
    renamed over it); the weights and every other field stay as they were."""
    path = Path(directory) / CONFIG_FILE
    raw = json.loads(path.read_text(encoding="utf-8"))
    raw.update(fields)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(raw, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.chmod(FILE_MODE)
    os.replace(tmp, path)
    return path


def update_routing(directory: Path, **values: Any) -> Path:
    """Merge ``values`` into the checkpoint's routing block, every other routing key kept; refused
    (ValueError) before anything is written when the result is not a valid RoutingConfig."""
    routing = {**read_config(directory).routing, **values}
    RoutingConfig(**routing)
    return update_config(directory, routing=routing)


def check_numbers(config: CheckpointConfig, path: Path) -> None:
    """Sizes are positive integers and the routing settings finite and in range, else CheckpointError."""
    for name in ("num_heads", "dim"):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise CheckpointError(f"checkpoint config {path}: {name} must be a positive integer, got {value!r}")
    try:
        config.routing_config()
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint config {path}: {exc}") from exc


def check_backbone(config: CheckpointConfig, backbone: BackboneInfo) -> None:
    """Refuse heads trained on another backbone, or read another way, naming both values."""
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
    weights = weights_difference(want, backbone.record())
    if weights:
        raise CheckpointError(f"backbone mismatch: the checkpoint's heads were trained on {want.get('id')}, but {weights}; "
                              "retrain the heads on this backbone (python -m model.train --backbone PATH)")
    if want.get("pooling") != backbone.pooling:
        raise CheckpointError(f"pooling mismatch: checkpoint uses {want.get('pooling')}, encoder uses {backbone.pooling}")
    if int(want.get("max_length", backbone.max_length)) != backbone.max_length:
        raise CheckpointError(
            f"max length mismatch: checkpoint was trained on {want.get('max_length')}-token windows, "
            f"the encoder reads {backbone.max_length} tokens (the backbone's position limit)"
        )
    if want.get("chat_template") != backbone.chat_template:
        raise CheckpointError(
            f"chat template mismatch: checkpoint was trained with {_template(want.get('chat_template'))}, "
            f"the loaded backbone's tokenizer gives {_template(backbone.chat_template)}"
        )
    if bool(want.get("score_head", False)) != backbone.score_head:
        raise CheckpointError(
            f"score head mismatch: checkpoint score_head={bool(want.get('score_head', False))} "
            f"(its expert head reads the reward model's own score), the encoder has score_head={backbone.score_head}"
        )
    want_layers = want.get("layers")
    want_layers = None if want_layers is None else tuple(int(i) for i in want_layers)
    want_combine = want.get("layer_combine", "concat") if want_layers is not None else None
    have_combine = backbone.layer_combine if backbone.layers is not None else None
    if want_layers != backbone.layers or want_combine != have_combine:
        raise CheckpointError(
            f"layer mismatch: checkpoint pools {_layers(want_layers, want_combine)}, "
            f"the encoder pools {_layers(backbone.layers, have_combine)}"
        )
    if config.dim != backbone.dim:
        raise CheckpointError(f"embedding size mismatch: checkpoint has d={config.dim}, the encoder gives d={backbone.dim}")


def _layers(layers: tuple[int, ...] | None, combine: str | None) -> str:
    return "the last layer only" if layers is None else f"hidden states {list(layers)} ({combine})"


def _template(template_hash: str | None) -> str:
    return f"chat template {template_hash}" if template_hash else "no chat template (plain text)"


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
    if STATEMENT_ROUTER in tensors:
        expected[STATEMENT_ROUTER] = (config.num_heads, config.dim)
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
    if STATEMENT_ROUTER not in tensors:
        tensors[STATEMENT_ROUTER] = torch.zeros(config.num_heads, config.dim)
    model.load_state_dict(tensors)
    model.eval().requires_grad_(False)
    return model, config


# ---- the backbone record read back: every Encoder setting it fixes ------------------------------
def layer_selection(record: dict) -> tuple[tuple[int, ...] | None, LayerCombine]:
    """(layers, combine) from a checkpoint's ``backbone`` record (absent: the last layer)."""
    layers = record.get("layers")
    return (tuple(int(i) for i in layers) if layers is not None else None), record.get("layer_combine", "concat")


def record_settings(record: dict) -> dict:
    """The Encoder keyword arguments a checkpoint's ``backbone`` record fixes: how texts are read
    (pooling, windows, chat template, score head) and which hidden states the heads read. Older
    records without a router window read router texts with the full window."""
    layers, combine = layer_selection(record)
    max_length = int(record.get("max_length", 256))
    return {"pooling": record.get("pooling", "mean"), "max_length": max_length,
            "router_max_length": int(record.get("router_max_length", max_length)),
            "chat_template": bool(record.get("chat_template")), "keep_score_head": bool(record.get("score_head", False)),
            "layers": layers, "layer_combine": combine}
