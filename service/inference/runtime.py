"""What the inference layer holds while the service runs, built from the settings (at startup,
never at import): backbone + checkpoint (service/inference/model_loading.py), warm-up forward, Redis
client, batcher, engine. ``async with running(settings) as runtime:`` holds them for the app's
lifespan and stops the batcher and closes Redis on the way out."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import torch
from redis.exceptions import RedisClusterException

from model.backbone import Encoder
from model.checkpoint import CheckpointConfig
from model.heads import MixtureRewardModel
from model.routing import RoutingConfig
from service.core import metrics
from service.core.config import Settings
from service.core.logs import redact
from service.inference.batcher import Batcher
from service.inference.embedder import Embedder, encoder_forward
from service.inference.engine import RewardEngine
from service.inference.texts import TextPreparer
from service.inference.forward_backend import BackendError, GraphForward, backend_forward
from service.inference.model_loading import StartupError, load_model, routing_config, warm_up
from service.state.user_store import UserStore

__all__ = ["Runtime", "StartupError", "running"]

log = logging.getLogger("service.inference.runtime")


@dataclass
class Runtime:
    """What the routes read while the service runs (built once the model is loaded and warm)."""

    settings: Settings
    encoder: Encoder
    config: CheckpointConfig
    routing: RoutingConfig
    store: UserStore
    engine: RewardEngine


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Runtime]:
    """The runtime, from the model load to the batcher's stop and the Redis client's close."""
    encoder, model, config, backend = await asyncio.to_thread(load_model, settings)
    if settings.warmup:
        await asyncio.to_thread(warm_up, encoder, model)
    store = _store(settings, config)
    try:
        if not await store.ping():
            log.warning("Redis at %s does not answer: starting degraded (scores use the prior)", redact(settings.redis_url))
        try:  # MICRO_BACKEND: the forward the batcher runs (None: torch)
            graph = await asyncio.to_thread(backend_forward, encoder, settings, backend, torch.get_num_threads())
        except BackendError as exc:
            raise StartupError(str(exc)) from exc
        async with _batcher(encoder, settings, graph) as batcher:
            yield _runtime(settings, encoder, model, config, store, batcher, backend)
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
        tenant_max_bytes=settings.tenant_max_bytes,
    )


def _batcher(encoder: Encoder, settings: Settings, graph: GraphForward | None = None) -> Batcher:
    return Batcher(
        encoder_forward(encoder, graph), max_batch_size=settings.max_batch_size, max_batch_tokens=settings.max_batch_tokens,
        max_wait_s=settings.max_wait_ms / 1000, max_queue=settings.max_queue, retry_after_s=settings.retry_after_s,
        sort_window=settings.sort_window, forward_overhead_tokens=settings.forward_overhead_tokens,
        batching=settings.batching,
    )


def _runtime(settings: Settings, encoder: Encoder, model: MixtureRewardModel, config: CheckpointConfig,
             store: UserStore, batcher: Batcher, backend: str) -> Runtime:
    routing = routing_config(config, settings)
    model.prior_strength = routing.prior_strength  # every score, label and next query reads it
    embedder = Embedder(encoder, batcher, settings.embed_cache_size, router_reads=model.prior_strength != 0)
    engine = RewardEngine(model, routing, TextPreparer(encoder), embedder, store, config.version)
    metrics.MODEL_INFO.labels(encoder.info.id, str(config.num_heads), config.version).set(1)
    log.info(
        "model loaded",
        extra={"backbone": encoder.info.id, "heads": config.num_heads, "version": config.version,
               "device": str(encoder.device), "backend": backend, "dtype": str(encoder.dtype), "threads": torch.get_num_threads(), "pid": os.getpid()},
    )
    return Runtime(settings, encoder, config, routing, store, engine)
