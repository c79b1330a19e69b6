"""UserStore against the real Redis (db 15, unique prefix): the Lua update equals
model.routing.update_offset, concurrent updates lose nothing, ids dedupe, erase erases."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis
import torch

from model.routing import RoutingConfig, update_offset
from service.errors import StoreUnavailable
from service.store import ContextChanged, UserStore
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


def random_label(gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    z = torch.randn(K, generator=gen, dtype=torch.float64)
    r_w, r_l = torch.randn(2, K, generator=gen, dtype=torch.float64) * 2
    return z, r_w, r_l


@pytest.mark.parametrize("mode", ["mirror", "hedge"])
def test_lua_update_matches_model_routing_update(prefix: str, mode: str):
    cfg = RoutingConfig(tau=0.7, eta=1.3, mode=mode, max_abs_offset=3.0)
    gen = torch.Generator().manual_seed(1)

    async def go() -> list:
        store = make_store(prefix)
        try:
            u = torch.zeros(K, dtype=torch.float64)
            for _ in range(12):
                z, r_w, r_l = random_label(gen)
                losses = -torch.nn.functional.logsigmoid(r_w - r_l)
                out = await store.apply_feedback("alice", z.tolist(), losses.tolist(), cfg, feedback_id=None)
                expected_before = torch.softmax(z + u, -1)
                u = update_offset(u, z, r_w, r_l, cfg)
                assert out.weights_before == pytest.approx(expected_before.tolist(), abs=1e-9)
                assert out.offset == pytest.approx(u.tolist(), abs=1e-9)
                assert out.weights_after == pytest.approx(torch.softmax(z + u, -1).tolist(), abs=1e-9)
            state = await store.get("alice")
            return [state, u]
        finally:
            await store.close()

    state, u = run(go())
    assert state.n_feedback == 12 and state.version == 12
    assert state.offset == pytest.approx(u.tolist(), abs=1e-12)


def test_concurrent_updates_for_one_user_lose_nothing(prefix: str):
    cfg = RoutingConfig()
    gen = torch.Generator().manual_seed(2)
    labels = [random_label(gen) for _ in range(50)]

    async def go():
        store = make_store(prefix)
        try:
            outs = await asyncio.gather(*(
                store.apply_feedback("bob", z.tolist(), (-torch.nn.functional.logsigmoid(w - l)).tolist(), cfg,
                                     feedback_id=f"f{i}")
                for i, (z, w, l) in enumerate(labels)
            ))
            return outs, await store.get("bob")
        finally:
            await store.close()

    outs, state = run(go())
    assert state.n_feedback == 50 and sorted(o.version for o in outs) == list(range(1, 51))
    u = torch.zeros(K, dtype=torch.float64)
    for i in sorted(range(50), key=lambda i: outs[i].version):
        z, w, l = labels[i]
        u = update_offset(u, z, w, l, cfg)
    assert state.offset == pytest.approx(u.tolist(), abs=1e-9)


def test_same_feedback_id_applies_once_and_returns_the_first_result(prefix: str):
    async def go():
        store = make_store(prefix)
        try:
            args = ([0.0] * K, [0.1, 0.2, 0.3, 0.4], RoutingConfig())
            first = await store.apply_feedback("carol", *args, feedback_id="x")
            second = await store.apply_feedback("carol", *args, feedback_id="x")
            state, previous = await store.get_with_feedback("carol", "x")
            return first, second, state, previous
        finally:
            await store.close()

    first, second, state, previous = run(go())
    assert first.applied and not second.applied and not previous.applied
    assert second.weights_after == first.weights_after == previous.weights_after
    assert state.n_feedback == 1


def test_keys_are_versioned_and_hash_tagged_per_user(prefix: str):
    store = make_store(prefix)
    state, fb, fbt = store.keys("dave")
    assert state == f"{prefix}:v-test:{{dave}}"
    assert fb.startswith(state) and fbt.startswith(state)
    run(store.close())


def test_context_check_detects_a_concurrent_context_change(prefix: str):
    async def go():
        store = make_store(prefix)
        try:
            await store.set_context("erin", "likes poems")
            with pytest.raises(ContextChanged):
                await store.apply_feedback("erin", [0.0] * K, [0.1] * K, RoutingConfig(), feedback_id=None,
                                           expected_context=None, check_context=True)
            ok = await store.apply_feedback("erin", [0.0] * K, [0.1] * K, RoutingConfig(), feedback_id=None,
                                            expected_context="likes poems", check_context=True)
            return ok, await store.get("erin")
        finally:
            await store.close()

    ok, state = run(go())
    assert ok.applied and state.context == "likes poems" and state.version == 2


def test_delete_erases_state_and_feedback_ids(prefix: str):
    async def go():
        store = make_store(prefix)
        try:
            await store.apply_feedback("frank", [0.0] * K, [0.1] * K, RoutingConfig(), feedback_id="a")
            removed = await store.delete("frank")
            return removed, await store.get_with_feedback("frank", "a"), await store.delete("frank")
        finally:
            await store.close()

    removed, (state, previous), removed_again = run(go())
    assert removed and state is None and previous is None and not removed_again
    client = redis.Redis.from_url(TEST_REDIS_URL)
    assert not list(client.scan_iter(match=f"{prefix}:*"))


def test_user_state_gets_a_ttl(prefix: str):
    async def go():
        store = make_store(prefix, user_ttl_s=123)
        try:
            await store.apply_feedback("gina", [0.0] * K, [0.1] * K, RoutingConfig(), feedback_id="a")
        finally:
            await store.close()
        return store.keys("gina")

    state_key, fb_key, _ = run(go())
    client = redis.Redis.from_url(TEST_REDIS_URL)
    assert 0 < client.ttl(state_key) <= 123 and 0 < client.ttl(fb_key) <= 60


def test_unreachable_redis_fails_fast_then_backs_off():
    import socket
    import time

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed

    async def go():
        store = make_store("nowhere", url=f"redis://127.0.0.1:{port}/0", backoff_s=5.0)
        try:
            start = time.perf_counter()
            with pytest.raises(StoreUnavailable):
                await store.get("x")
            first = time.perf_counter() - start
            start = time.perf_counter()
            with pytest.raises(StoreUnavailable):
                await store.get("x")
            return first, time.perf_counter() - start, await store.ping()
        finally:
            await store.close()

    first, second, alive = run(go())
    assert first < 1.0 and second < 0.01 and alive is False
