"""Per-user router state in Redis.

Keys (:class:`KeySchema`, the one place they are built) are namespaced by model version and
hash-tagged by user: all of a user's keys live in one Redis Cluster slot, so the feedback
script may touch them together. With MICRO_AUTH=on, ``<user>`` is ``<tenant>/<user id>``
(service/api/auth.py): tenants never share a key.

Feedback is applied by one Lua script (service/state/update_script.py): atomic, one round trip for one
label or a batch of a user's labels (applied in order), recording each label's texts in the
user's history (kept across model versions, the last ``history_max``; service/inference/user_history.py
replays it under a new model). Reads are one script too (state, history length, asked ids).
A corrupt stored state reads as the prior (micro_state_repaired_total). The records and the key
layout are in service/state/records.py.
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
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from redis import exceptions as rexc
from redis.asyncio import Redis

from model.routing import RoutingConfig
from service.core import metrics
from service.core.errors import (FeedbackIdReused, InferenceFailed, StoreUnavailable, reused_id_detail,
                                 store_error_summary)
from service.core.ids import new_feedback_id
from service.state.connection import connect_redis
from service.state.tenant_quota import TenantQuota
from service.state.update_script import APPLY_FEEDBACK, ERASE_USER, READ_USER
from service.state.records import (
    FIELDS,
    ContextChanged,
    FeedbackOutcome,
    KeySchema,
    LabelTerms,
    Snapshot,
    UserKeys,
    UserState,
    outcome_from_json,
    state_from_raw,
)

__all__ = ["ContextChanged", "FeedbackOutcome", "KeySchema", "LabelTerms", "Snapshot", "UserKeys", "UserState",
           "UserStore"]
log = logging.getLogger("service.state.user_store")
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
        feedback_id_max: int = 1000,
        history_max: int = 200,
        tenant_max_bytes: int = 0,
    ) -> None:
        self.redis = redis
        self.key_schema = KeySchema(prefix, model_version)
        self.num_heads = num_heads
        self.user_ttl_s, self.feedback_id_ttl_s, self.backoff_s = user_ttl_s, feedback_id_ttl_s, backoff_s
        self.feedback_id_max, self.history_max = feedback_id_max, history_max
        self._down_until = 0.0
        # per-tenant bound on stored bytes (users keyed <tenant>/<id>, auth on); 0: none
        self.quota = TenantQuota(redis, prefix, tenant_max_bytes, user_ttl_s) if tenant_max_bytes else None
        # The cluster client raises at once when a node's pool is exhausted instead of waiting
        # for a free connection like the standalone pool: callers wait for a permit instead.
        self._permits: contextlib.AbstractAsyncContextManager = (
            asyncio.Semaphore(max_in_flight) if max_in_flight else contextlib.nullcontext()
        )

    connect = staticmethod(connect_redis)  # service/state/connection.py

    # ---- keys -----------------------------------------------------------------------------
    def keys(self, user_id: str) -> UserKeys:
        return self.key_schema.user(user_id)

    # ---- reads ----------------------------------------------------------------------------
    async def read(self, user_id: str, feedback_ids: Sequence[str] = ()) -> Snapshot:
        """The state, whether it must be rebuilt from the kept history, and per id its first
        outcome if it was applied before: one round trip (one script)."""
        ids = list(feedback_ids)
        keys = list(self.keys(user_id))
        raw = await self._call("get", lambda: self.redis.eval(READ_USER, len(keys), *keys, *ids))
        state = self._state(raw[: len(FIELDS)])
        history_len, context_kept, history_bytes, context_bytes = (int(x) for x in raw[len(FIELDS):len(FIELDS) + 4])
        previous = [outcome_from_json(p, applied=False) if p else None for p in raw[len(FIELDS) + 4:]]
        return Snapshot(state, previous, state is None and (history_len > 0 or context_kept > 0), history_bytes,
                        context_bytes)

    # ---- writes ---------------------------------------------------------------------------
    async def apply_labels(
        self,
        user_id: str,
        labels: Sequence[LabelTerms],
        cfg: RoutingConfig,
        *,
        expected_context: str | None = None,
        check_context: bool = False,
        history: Sequence[str | None] | None = None,
        replay: bool = False,
        attempt: str | None = None,
        stored_bytes: int = 0,
    ) -> list[FeedbackOutcome]:
        """Atomically apply a user's labels in order, each once by its id (one round trip, one
        script run). Raises :class:`ContextChanged` (nothing written) when ``check_context`` and the
        stored context is not ``expected_context``. ``history``: per label its JSON item for the
        user's kept history (None: not recorded). ``replay``: rebuilding a state from that history
        (nothing recorded; a new state takes the kept context). ``attempt``: the token marking
        this call's results (a random one by default): a result it finds with its own token was
        applied by a resent command, and is reported as applied. ``stored_bytes``: what the user's kept
        history and context hold (read with the state): with a tenant quota, the write is first reserved
        against it (403 when over, nothing written)."""
        items = list(history) if history is not None else [None] * len(labels)
        if not replay and any(items):
            await self._reserve(user_id, stored_bytes + sum(len(item.encode()) for item in items if item))
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
            self.history_max,
            self.feedback_id_max,
            attempt or uuid.uuid4().hex,
            "1" if replay else "0",
        ]
        for label, item in zip(labels, items, strict=True):
            if len(label.prior_logits) != self.num_heads or len(label.losses) != self.num_heads:
                raise ValueError(f"expected {self.num_heads} prior logits and losses")
            terms = [float(x) for x in (*label.prior_logits, *label.losses)]
            if not all(math.isfinite(x) for x in terms):  # never reaches a user's stored offset
                raise InferenceFailed("the model gave non-finite values for this pair; nothing was stored")
            args += [label.feedback_id, item or "", label.digest, *[repr(x) for x in terms]]
        keys = list(self.keys(user_id))
        # EVAL with the script's text, not EVALSHA: always one round trip (EVALSHA costs two more, SCRIPT LOAD
        # and a retry, whenever Redis has lost its script cache: restart, failover); Redis still compiles it once
        reply = await self._call("feedback", lambda: self.redis.eval(APPLY_FEEDBACK, len(keys), *keys, *args))
        if reply and reply[0] == "retry":
            raise ContextChanged(user_id)
        if reply and reply[0] == "conflict":
            raise FeedbackIdReused(reused_id_detail(reply[1]))
        return [outcome_from_json(reply[i + 1], applied=reply[i] == "ok") for i in range(0, len(reply), 2)]

    @staticmethod
    def feedback_id(given: str | None) -> str:
        """The caller's id, or a random one: a command retried after a lost reply applies once either way."""
        return given or new_feedback_id()

    async def set_context(self, user_id: str, context: str | None, history_bytes: int = 0) -> UserState:
        """Store (or clear, with None or "") the user's stated preferences, in the state and in the
        key kept across model versions; returns the new state. ``history_bytes``: what the user's kept
        history holds (with a tenant quota, the history and the new context are reserved first)."""
        await self._reserve(user_id, history_bytes + len((context or "").encode()))
        keys = self.keys(user_id)
        state_key = keys.state

        async def write() -> list:
            pipe = self.redis.pipeline(transaction=True)
            if context:
                pipe.hset(state_key, "context", context)
                pipe.set(keys.context, context, ex=self.user_ttl_s or None)
            else:
                pipe.hdel(state_key, "context")
                pipe.delete(keys.context)
            pipe.hincrby(state_key, "version", 1)
            pipe.hset(state_key, "updated_at", f"{time.time():.6f}")
            pipe.sadd(keys.versions, state_key)
            if self.user_ttl_s:
                pipe.expire(state_key, self.user_ttl_s)
                pipe.expire(keys.versions, self.user_ttl_s)
            pipe.hmget(state_key, FIELDS)
            return await pipe.execute()

        result = await self._call("set_context", write)
        state = self._state(result[-1])
        assert state is not None
        return state

    async def kept(self, user_id: str) -> tuple[list[str], str | None]:
        """The user's kept history (JSON items, oldest first) and context: one round trip."""
        keys = self.keys(user_id)

        async def both() -> list:
            pipe = self.redis.pipeline(transaction=False)
            pipe.lrange(keys.history, 0, -1)
            pipe.get(keys.context)
            return await pipe.execute()

        items, context = await self._call("get", both)
        return list(items), context or None

    async def drop_state(self, user_id: str) -> None:
        """Erase this version's state and ids only: the next read rebuilds them from the kept
        history and context (service/ops/migrate_users.py --prompt-forms)."""
        keys = self.keys(user_id)
        await self._call("delete", lambda: self.redis.delete(keys.state, keys.feedback, keys.feedback_times))

    async def delete(self, user_id: str) -> bool:
        """Erase everything stored about the user (every model version's state and ids, the kept
        history and context): one script; True if there was something."""
        keys = list(self.keys(user_id))
        removed = await self._call("delete", lambda: self.redis.eval(ERASE_USER, len(keys), *keys))
        if self.quota is not None:
            await self._call("quota", lambda: self.quota.release(user_id))
        return bool(removed)

    async def _reserve(self, user_id: str, bytes_after: int) -> None:
        """With a tenant quota: the user's bytes after a write, checked and recorded (403 when over)."""
        if self.quota is not None:
            quota = self.quota
            await self._call("quota", lambda: quota.reserve(user_id, bytes_after))

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
            self._log_failure(op, exc, logging.WARNING)
            raise StoreUnavailable(f"Redis is unreachable ({store_error_summary(exc)}); retry later",
                                   retry_after_s=1) from exc
        except rexc.RedisError as exc:
            metrics.REDIS_ERRORS.labels(op).inc()
            self._log_failure(op, exc, logging.ERROR)
            raise StoreUnavailable(f"Redis refused the operation ({store_error_summary(exc)}); retry later",
                                   retry_after_s=1) from None  # its message quotes the command: keys, texts
        metrics.REDIS_DURATION.labels(op).observe(time.perf_counter() - start)
        return result

    @staticmethod
    def _log_failure(op: str, exc: BaseException, level: int) -> None:
        """The one log of a Redis error: its class and code at ``level``; its message (it may quote a
        command: keys, users' texts) only at DEBUG."""
        log.log(level, "redis %s failed: %s", op, store_error_summary(exc), extra={"op": op})
        log.debug("redis %s failed: %r", op, exc, extra={"op": op})

    def _state(self, raw: list | None) -> UserState | None:
        state, repaired = state_from_raw(raw, self.num_heads)
        if repaired:
            metrics.STATE_REPAIRED.inc()
            log.warning("corrupt user state read as the prior")
        return state
