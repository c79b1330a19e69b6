"""Fixtures and helpers of the service tests that use the real Redis (db 15, a unique key prefix)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis

from service.state.user_store import UserStore
from tests.helpers import TEST_REDIS_URL

K = 4


def make_store(prefix: str, url: str = TEST_REDIS_URL, **kw) -> UserStore:
    client = UserStore.connect(url, timeout_s=0.25, max_connections=64)
    opts = {"prefix": prefix, "model_version": "v-test", "num_heads": K, "user_ttl_s": 3600, "feedback_id_ttl_s": 60,
                "backoff_s": 0.2}
    opts.update(kw)
    return UserStore(client, **opts)


@pytest.fixture()
def prefix():
    prefix = f"unit-{uuid.uuid4().hex[:8]}"
    yield prefix
    client = redis.Redis.from_url(TEST_REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    if keys:
        client.delete(*keys)


def run(coro):
    return asyncio.run(coro)
