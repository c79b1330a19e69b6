"""What the app holds while it runs, and how it is built from the settings (at startup,
never at import): backbone + checkpoint (refused with a clear message when they do not fit),
warm-up forward, Redis client, batcher, engine. ``async with running(settings) as runtime:``
holds them for the app's lifespan and stops the batcher and closes Redis on the way out."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from redis.exceptions import RedisClusterException

from model.backbone import BackboneError, Encoder

from model.backbone_record import record_settings
from model.checkpoint import CheckpointConfig, CheckpointError, load_checkpoint, read_config
from model.heads import MixtureRewardModel
from model.routing import RoutingConfig
from service import metrics
from service.backend import BackendError, GraphForward, backend_forward
from service.batcher import Batcher
from service.config import Settings
from service.embedder import Embedder, encoder_forward, tokenize_items
from service.engine import RewardEngine
from service.feedback_batch import BatchFeedback
from service.limits import Limits
from service.logs import redact
from service.store import UserStore
from service.user_history import UserHistory

log = logging.getLogger("service.runtime")


class StartupError(RuntimeError):
    """The service cannot start as configured; the message says what to set."""


@dataclass
class Runtime:
    """What the routes read while the service runs (built once the model is loaded and warm)."""

    settings: Settings
    encoder: Encoder
    config: CheckpointConfig
    routing: RoutingConfig
    store: UserStore
    engine: RewardEngine
    limits: Limits


def load_model(settings: Settings) -> tuple[Encoder, MixtureRewardModel, CheckpointConfig]:
    """Backbone + heads, checked against each other. Blocking (seconds): call in a thread."""
    directory = Path(settings.checkpoint)
    if not (directory / "config.json").is_file():
        raise StartupError(
            f"no checkpoint at {directory.resolve()} (MICRO_CHECKPOINT): train one with "
            "`python -m model.train --out DIR`, or set MICRO_CHECKPOINT to a directory holding heads.safetensors "
            "and config.json"
        )
    torch.set_num_threads(settings.torch_threads or available_cores())  # once, before the first forward
    try:  # one forward at a time (the batcher's worker): inter-op threads only compete with intra-op ones
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set in this process (tests build several apps)
        pass
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # "sequence longer than the model" is expected: join_pairs truncates
    try:
        config = read_config(directory)
        # read texts as in training (pooling, windows, template, score head, hidden states);
        # load_checkpoint refuses anything that still differs
        encoder = Encoder(settings.backbone_path, backbone_id=settings.backbone_id, device=settings.device,
                          dtype=settings.dtype, batch_size=settings.max_batch_size, **record_settings(config.backbone))
        model, config = load_checkpoint(directory, encoder.info)
    except (CheckpointError, BackboneError) as exc:
        raise StartupError(f"{exc} (MICRO_CHECKPOINT={directory}, MICRO_BACKBONE_PATH={settings.backbone_path})") from exc
    return encoder, model, config


def available_cores() -> int:
    """CPUs this process may use: its affinity mask, capped by a cgroup v2 CPU quota (in a
    container torch would otherwise start one thread per core of the host)."""
    cores = len(os.sched_getaffinity(0))
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return cores


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


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Runtime]:
    """The runtime, from the model load to the batcher's stop and the Redis client's close."""
    encoder, model, config = await asyncio.to_thread(load_model, settings)
    if settings.warmup:
        await asyncio.to_thread(warm_up, encoder, model)
    store = _store(settings, config)
    try:
        if not await store.ping():
            log.warning("Redis at %s does not answer: starting degraded (scores use the prior)", redact(settings.redis_url))
        try:  # MICRO_BACKEND: the forward the batcher runs (None: torch)
            graph = await asyncio.to_thread(backend_forward, encoder, settings, torch.get_num_threads())
        except BackendError as exc:
            raise StartupError(str(exc)) from exc
        async with _batcher(encoder, settings, graph) as batcher:
            yield _runtime(settings, encoder, model, config, store, batcher)
    finally:
        await store.close()


def _store(settings: Settings, config: CheckpointConfig) -> UserStore:
    try:
        redis = UserStore.connect(
            settings.redis_url, timeout_s=settings.redis_timeout_s, max_connections=settings.redis_max_connections,
            cluster=settings.redis_cluster,
        )
    except (ValueError, RedisClusterException) as exc:  # a bad URL; in cluster mode also a db other than 0
        raise StartupError(redact(f"MICRO_REDIS_URL={settings.redis_url!r} is not a usable Redis URL: {exc}")) from exc
    return UserStore(
        redis, prefix=settings.key_prefix, model_version=config.version, num_heads=config.num_heads,
        user_ttl_s=settings.user_ttl_s, feedback_id_ttl_s=settings.feedback_id_ttl_s, backoff_s=settings.redis_backoff_s,
        max_in_flight=settings.redis_max_connections if settings.redis_cluster else None,  # see UserStore
        feedback_id_max=settings.feedback_id_max, history_max=settings.history_max,
    )


def _batcher(encoder: Encoder, settings: Settings, graph: GraphForward | None = None) -> Batcher:
    return Batcher(
        encoder_forward(encoder, graph), max_batch_size=settings.max_batch_size, max_batch_tokens=settings.max_batch_tokens,
        max_wait_s=settings.max_wait_ms / 1000, max_queue=settings.max_queue, retry_after_s=settings.retry_after_s,
        sort_window=settings.sort_window, forward_overhead_tokens=settings.forward_overhead_tokens,
        batching=settings.batching,
    )


def _runtime(settings: Settings, encoder: Encoder, model: MixtureRewardModel, config: CheckpointConfig,
             store: UserStore, batcher: Batcher) -> Runtime:
    routing = routing_config(config, settings)
    model.prior_strength = routing.prior_strength  # every score, label and next query reads it
    engine = RewardEngine(model, routing, Embedder(encoder, batcher, settings.embed_cache_size), store, config.version)
    engine.history = UserHistory(BatchFeedback.of(engine))  # users' kept labels, replayed after an upgrade
    metrics.MODEL_INFO.labels(encoder.info.id, str(config.num_heads), config.version).set(1)
    log.info(
        "model loaded",
        extra={"backbone": encoder.info.id, "heads": config.num_heads, "version": config.version,
               "device": str(encoder.device), "threads": torch.get_num_threads(), "pid": os.getpid()},
    )
    return Runtime(settings, encoder, config, routing, store, engine, Limits.from_settings(settings))
