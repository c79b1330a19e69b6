"""Redis Cluster readiness without a cluster: every key one user's script or pipeline touches
hashes to one slot (the hash tag is the user id), MICRO_REDIS_CLUSTER selects the cluster
client, and an unreachable cluster degrades like an unreachable Redis (tests/integration/
test_cluster.py runs against a real cluster)."""

from __future__ import annotations

import asyncio
import socket

import pytest
from redis.asyncio import Redis, RedisCluster
from redis.crc import key_slot

from service.core.config import Settings
from service.core.errors import StoreUnavailable
from service.state.user_store import UserStore
from tests.service.store_calls import state_of

USER_IDS = ["alice", "u-42", "a.b_c:d@e-f", "x" * 128, "0"]  # ids the API accepts (service.api.schemas.ID_PATTERN)


def make_store(model_version: str = "20250101-k4", prefix: str = "micro") -> UserStore:
    client = UserStore.connect("redis://127.0.0.1:1/0", timeout_s=0.1, max_connections=1)  # never connected
    return UserStore(client, prefix=prefix, model_version=model_version, num_heads=4, user_ttl_s=0,
                     feedback_id_ttl_s=60, backoff_s=1.0)


@pytest.mark.parametrize("model_version", ["20250101-k4", "v{1}", "a}b{c", "{}"])
@pytest.mark.parametrize("user_id", USER_IDS)
def test_all_keys_of_a_user_share_the_slot_of_the_user_id(user_id: str, model_version: str):
    keys = make_store(model_version).keys(user_id)
    # state, feedback results, feedback times, kept history, kept context, state keys of every version, history
    # bytes: the script's KEYS
    assert len(keys) == 7
    assert {key_slot(k.encode()) for k in keys} == {key_slot(user_id.encode())}


def test_model_version_braces_cannot_steal_the_hash_tag():
    store = make_store("v{1}")
    assert "{" not in store.key_schema.namespace and "}" not in store.key_schema.namespace


def test_users_spread_over_many_slots():
    store = make_store()
    slots = {key_slot(store.keys(f"user-{i}").state.encode()) for i in range(200)}
    assert len(slots) > 150


def test_cluster_setting_selects_the_cluster_client(monkeypatch):
    monkeypatch.setenv("MICRO_REDIS_CLUSTER", "true")
    settings = Settings()
    assert settings.redis_cluster is True
    client = UserStore.connect(settings.redis_url, timeout_s=0.1, max_connections=4, cluster=settings.redis_cluster)
    assert isinstance(client, RedisCluster)
    monkeypatch.delenv("MICRO_REDIS_CLUSTER")
    assert Settings().redis_cluster is False
    assert isinstance(UserStore.connect(Settings().redis_url, timeout_s=0.1, max_connections=4), Redis)


def test_unreachable_cluster_is_unavailable_not_a_crash():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket closes

    async def go() -> tuple[bool, type]:
        client = UserStore.connect(f"redis://127.0.0.1:{port}/0", timeout_s=0.1, max_connections=4, cluster=True)
        store = UserStore(client, prefix="micro", model_version="v", num_heads=4, user_ttl_s=0,
                          feedback_id_ttl_s=60, backoff_s=1.0, max_in_flight=4)
        try:
            alive = await store.ping()
            with pytest.raises(StoreUnavailable) as caught:
                await state_of(store, "alice")
            return alive, type(caught.value.__cause__)
        finally:
            await store.close()

    alive, cause = asyncio.run(go())
    assert alive is False and cause is not None
