"""Per-user router state in Redis.

Keys (:class:`KeySchema`, the one place they are built) are namespaced by model version and
hash-tagged by user: all of a user's keys live in one Redis Cluster slot, so the feedback
script may touch them together. With MICRO_AUTH=on, ``<user>`` is ``<tenant>/<user id>``
(service/auth.py): tenants never share a key.

Feedback is applied by one Lua script (service/routing_lua.py): atomic, one round trip for one
label or a batch of a user's labels (applied in order). The records and the key layout are in
service/store_records.py.
With ``MICRO_REDIS_CLUSTER=true`` the client is redis-py's cluster client; every script and
pipeline here touches the keys of one user only, so each runs on the one node owning the slot
(``tests/service/test_store_cluster.py`` checks the keys share a slot).
Timeouts are short; after a connection error Redis is skipped for ``backoff_s`` (callers get
:class:`StoreUnavailable` at once), then tried again, so the service recovers by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from redis import exceptions as rexc
from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from model.routing import RoutingConfig
from service import metrics
from service.errors import StoreUnavailable
from service.routing_lua import APPLY_FEEDBACK
from service.store_records import (
    FIELDS,
    ContextChanged,
    FeedbackOutcome,
    KeySchema,
    LabelTerms,
    UserKeys,
    UserState,
    outcome_from_json,
    state_from_raw,
)

__all__ = ["ContextChanged", "FeedbackOutcome", "KeySchema", "LabelTerms", "UserKeys", "UserState", "UserStore"]
log = logging.getLogger("service.store")
T = TypeVar("T")


class UserStore:
    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str,
        model_version: str,
        num_heads: int,
        user_ttl_s: int,
        feedback_id_ttl_s: int,
        backoff_s: float,
        max_in_flight: int | None = None,
    ) -> None:
        self.redis = redis
        self.key_schema = KeySchema(prefix, model_version)
        self.num_heads = num_heads
        self.user_ttl_s, self.feedback_id_ttl_s, self.backoff_s = user_ttl_s, feedback_id_ttl_s, backoff_s
        self._down_until = 0.0
        # The cluster client raises at once when a node's pool is exhausted instead of waiting
        # for a free connection like the standalone pool: callers wait for a permit instead.
        self._permits: contextlib.AbstractAsyncContextManager = (
            asyncio.Semaphore(max_in_flight) if max_in_flight else contextlib.nullcontext()
        )

    @staticmethod
    def connect(url: str, *, timeout_s: float, max_connections: int, cluster: bool = False) -> Redis | RedisCluster:
        """A client whose every command fails within ~2 x timeout_s when Redis is gone (one
        immediate retry on a fresh connection: pooled sockets die when Redis restarts; the retry
        cannot apply a feedback twice, the script dedupes by feedback id). ``cluster``: ``url``
        names any node of a Redis Cluster; the client discovers the others on first use."""
        if cluster:
            return RedisCluster.from_url(
                url,
                max_connections=max_connections,  # per node
                socket_timeout=timeout_s,
                socket_connect_timeout=timeout_s,
                decode_responses=True,
                retry=Retry(NoBackoff(), 1),
                health_check_interval=0,
            )
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=max(1.0, 4 * timeout_s),  # waiting for a free pooled connection is load, not an outage
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            decode_responses=True,
            retry=Retry(NoBackoff(), 1),
            health_check_interval=0,
        )
        return Redis(connection_pool=pool)

    # ---- keys -----------------------------------------------------------------------------
    def keys(self, user_id: str) -> UserKeys:
        return self.key_schema.user(user_id)

    # ---- reads ----------------------------------------------------------------------------
    async def get(self, user_id: str) -> UserState | None:
        """One round trip; None for a user with no stored state."""
        raw = await self._call("get", lambda: self.redis.hmget(self.keys(user_id).state, FIELDS))
        return self._state(raw)

    async def get_with_feedback(
        self, user_id: str, feedback_id: str | None
    ) -> tuple[UserState | None, FeedbackOutcome | None]:
        """State and, if ``feedback_id`` was applied before, its first outcome: one round trip."""
        state, previous = await self.get_with_feedbacks(user_id, [feedback_id] if feedback_id else [])
        return state, (previous[0] if previous else None)

    async def get_with_feedbacks(
        self, user_id: str, feedback_ids: Sequence[str]
    ) -> tuple[UserState | None, list[FeedbackOutcome | None]]:
        """State and, per id, its first outcome if it was applied before (else None): one round trip."""
        if not feedback_ids:
            return await self.get(user_id), []
        state_key, fb_key, _ = self.keys(user_id)

        async def both() -> list:
            pipe = self.redis.pipeline(transaction=False)
            pipe.hmget(state_key, FIELDS)
            pipe.hmget(fb_key, list(feedback_ids))
            return await pipe.execute()

        raw, previous = await self._call("get", both)
        return self._state(raw), [outcome_from_json(p, applied=False) if p else None for p in previous]

    # ---- writes ---------------------------------------------------------------------------
    async def apply_feedback(
        self,
        user_id: str,
        prior_logits: list[float],
        losses: list[float],
        cfg: RoutingConfig,
        *,
        feedback_id: str | None,
        expected_context: str | None = None,
        check_context: bool = False,
    ) -> FeedbackOutcome:
        """Atomically apply one label. ``prior_logits`` (K,) = R p + b for the prompt,
        ``losses`` (K,) = -log sigmoid(r_k(chosen) - r_k(rejected)). A missing feedback_id gets a
        random one, so a retried command after a lost reply cannot apply twice either."""
        label = LabelTerms(self.feedback_id(feedback_id), prior_logits, losses)
        (outcome,) = await self.apply_labels(
            user_id, [label], cfg, expected_context=expected_context, check_context=check_context
        )
        return outcome

    async def apply_labels(
        self,
        user_id: str,
        labels: Sequence[LabelTerms],
        cfg: RoutingConfig,
        *,
        expected_context: str | None = None,
        check_context: bool = False,
    ) -> list[FeedbackOutcome]:
        """Atomically apply a user's labels in order, each once by its id (one round trip, one
        script run). Raises :class:`ContextChanged` (nothing written) when ``check_context`` and the
        stored context is not ``expected_context``."""
        args: list[str | int] = [
            self.num_heads,
            repr(float(cfg.tau)),
            repr(float(cfg.eta)),
            cfg.mode,
            repr(float(cfg.max_abs_offset)),
            self.user_ttl_s,
            self.feedback_id_ttl_s,
            "1" if check_context else "0",
            expected_context or "",
            len(labels),
        ]
        for label in labels:
            if len(label.prior_logits) != self.num_heads or len(label.losses) != self.num_heads:
                raise ValueError(f"expected {self.num_heads} prior logits and losses")
            args += [label.feedback_id, *[repr(float(x)) for x in (*label.prior_logits, *label.losses)]]
        keys = list(self.keys(user_id))
        # EVAL with the script's text, not EVALSHA: always one round trip (EVALSHA costs two more, SCRIPT LOAD
        # and a retry, whenever Redis has lost its script cache: restart, failover); Redis still compiles it once
        reply = await self._call("feedback", lambda: self.redis.eval(APPLY_FEEDBACK, len(keys), *keys, *args))
        if reply and reply[0] == "retry":
            raise ContextChanged(user_id)
        return [outcome_from_json(reply[i + 1], applied=reply[i] == "ok") for i in range(0, len(reply), 2)]

    @staticmethod
    def feedback_id(given: str | None) -> str:
        """The caller's id, or a random one: a command retried after a lost reply applies once either way."""
        return given or f"auto-{uuid.uuid4().hex}"

    async def set_context(self, user_id: str, context: str | None) -> UserState:
        """Store (or clear, with None or "") the user's stated preferences; returns the new state."""
        state_key = self.keys(user_id).state

        async def write() -> list:
            pipe = self.redis.pipeline(transaction=True)
            if context:
                pipe.hset(state_key, "context", context)
            else:
                pipe.hdel(state_key, "context")
            pipe.hincrby(state_key, "version", 1)
            pipe.hset(state_key, "updated_at", f"{time.time():.6f}")
            if self.user_ttl_s:
                pipe.expire(state_key, self.user_ttl_s)
            pipe.hmget(state_key, FIELDS)
            return await pipe.execute()

        result = await self._call("set_context", write)
        state = self._state(result[-1])
        assert state is not None
        return state

    async def delete(self, user_id: str) -> bool:
        """Erase everything stored about the user; True if there was something."""
        removed = await self._call("delete", lambda: self.redis.delete(*self.keys(user_id)))
        return bool(removed)

    async def ping(self) -> bool:
        """Health check: bypasses the back-off, so readiness notices a returning Redis."""
        try:
            start = time.perf_counter()
            async with self._permits:
                await self.redis.ping()
            metrics.REDIS_DURATION.labels("ping").observe(time.perf_counter() - start)
            self._down_until = 0.0
            return True
        except (rexc.RedisError, rexc.RedisClusterException, OSError):
            metrics.REDIS_ERRORS.labels("ping").inc()
            return False

    async def close(self) -> None:
        await self.redis.aclose()

    # ---- plumbing -------------------------------------------------------------------------
    async def _call(self, op: str, fn: Callable[[], Awaitable[T]]) -> T:
        if time.monotonic() < self._down_until:
            raise StoreUnavailable("Redis is unreachable (backing off); retry later", retry_after_s=1)
        start = time.perf_counter()
        try:
            async with self._permits:
                result = await fn()
        # cluster mode: no reachable node (RedisClusterException), or slots without a node (CLUSTERDOWN)
        except (rexc.ConnectionError, rexc.TimeoutError, rexc.ClusterDownError, rexc.RedisClusterException,
                OSError) as exc:
            metrics.REDIS_ERRORS.labels(op).inc()
            self._down_until = time.monotonic() + self.backoff_s
            log.warning("redis %s failed: %s: %s", op, exc.__class__.__name__, exc, extra={"op": op})
            raise StoreUnavailable(f"Redis is unreachable ({exc.__class__.__name__}); retry later",
                                   retry_after_s=1) from exc
        except rexc.RedisError as exc:
            metrics.REDIS_ERRORS.labels(op).inc()
            log.error("redis %s error: %s", op, exc, extra={"op": op})
            raise StoreUnavailable(f"Redis refused the operation: {exc}", retry_after_s=1) from exc
        metrics.REDIS_DURATION.labels(op).observe(time.perf_counter() - start)
        return result

    def _state(self, raw: list | None) -> UserState | None:
        return state_from_raw(raw, self.num_heads)
