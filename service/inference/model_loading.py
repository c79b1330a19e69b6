"""The backbone and the trained heads, loaded from the settings and checked against each other;
the routing settings with their overrides; one warm-up forward. Blocking (seconds): run in a thread."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import torch

from model.backbone import BackboneError, Encoder, pick_device
from model.checkpoint import CheckpointConfig, CheckpointError, load_checkpoint, read_config, record_settings
from model.heads import MixtureRewardModel
from model.routing import RoutingConfig
from model.variants import VARIANT_DTYPES, VariantError, auto_backend, check_variant
from service.core.config import Settings
from service.core.cpu_quota import available_cores
from service.inference.embedder import encoder_forward, tokenize_items


log = logging.getLogger("service.inference.model_loading")


class StartupError(RuntimeError):
    """The service cannot start as configured; the message says what to set."""


def load_model(settings: Settings) -> tuple[Encoder, MixtureRewardModel, CheckpointConfig, str]:
    """Backbone + heads, checked against each other, and the backend they run with (MICRO_BACKEND
    resolved: auto -> torch-bf16 when the checkpoint passed its gate with it, else torch)."""
    directory = Path(settings.checkpoint)
    if not (directory / "config.json").is_file():
        raise StartupError(
            f"no checkpoint at {directory.resolve()} (MICRO_CHECKPOINT): train one with "
            "`python -m model.train --out DIR`, or set MICRO_CHECKPOINT to a directory holding heads.safetensors "
            "and config.json"
        )
    _set_torch_threads(settings.torch_threads or available_cores())
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # "sequence longer than the model" is expected: join_pairs truncates
    try:
        config = read_config(directory)
        backend, dtype = resolve_backend(settings, config)
        # read texts as in training (pooling, windows, template, score head, hidden states);
        # load_checkpoint refuses anything that still differs
        encoder = Encoder(settings.backbone_path, backbone_id=settings.backbone_id, device=settings.device,
                          dtype=dtype, batch_size=settings.max_batch_size, **record_settings(config.backbone))
        model, config = load_checkpoint(directory, encoder.info)
    except (CheckpointError, BackboneError) as exc:
        raise StartupError(f"{exc} (MICRO_CHECKPOINT={directory}, MICRO_BACKBONE_PATH={settings.backbone_path})") from exc
    return encoder, model, config, backend


def resolve_backend(settings: Settings, config: CheckpointConfig) -> tuple[str, str]:
    """(backend, Encoder dtype) for MICRO_BACKEND: a torch variant other than fp32 only with the
    checkpoint's passed, current record (model/variants.py); auto falls back to fp32 with a log line."""
    directory, backend = Path(settings.checkpoint), settings.backend
    if backend == "auto":
        backend, why = auto_backend(directory, config.backbone, pick_device(settings.device).type)
        log.info("MICRO_BACKEND=auto -> %s: %s", backend, why)
    elif backend in VARIANT_DTYPES and backend != "torch":
        try:
            check_variant(directory, backend, config.backbone)
        except VariantError as exc:
            raise StartupError(f"{exc} (MICRO_BACKEND={backend}; MICRO_BACKEND=torch serves fp32)") from exc
    if backend in VARIANT_DTYPES and backend != "torch":
        return backend, VARIANT_DTYPES[backend]
    return backend, settings.dtype


def _set_torch_threads(threads: int) -> None:
    """Once, before the first forward. One forward runs at a time (the batcher's worker thread), so
    inter-op threads would only compete with the intra-op ones."""
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set in this process (tests build several apps)
        pass


def routing_config(config: CheckpointConfig, settings: Settings) -> RoutingConfig:
    """The checkpoint's routing settings, with MICRO_TAU / MICRO_ETA (each checked: finite, > 0) and
    MICRO_ACTIVE_CRITERION overrides."""
    cfg = config.routing_config()
    named = (("tau", settings.tau), ("eta", settings.eta), ("active_criterion", settings.active_criterion))
    overrides = {k: v for k, v in named if v is not None}
    try:
        return dataclasses.replace(cfg, **overrides)
    except ValueError as exc:
        raise StartupError(f"{exc} (MICRO_TAU / MICRO_ETA / MICRO_ACTIVE_CRITERION)") from exc


def warm_up(encoder: Encoder, model: MixtureRewardModel) -> None:
    """One forward of a full-length pair, so the first request does not pay for lazy init."""
    items = [("warm up " * encoder.max_length, encoder.max_length), ("warm up", encoder.router_max_length)]
    emb = encoder_forward(encoder)(tokenize_items(encoder, items))
    with torch.inference_mode():
        model(emb, emb)
