"""UserStore against the real Redis (db 15, unique prefix): the Lua update equals
model.routing.update_offset (one label, or a batch applied in order), concurrent updates lose
nothing, ids dedupe (also within and across batches), erase erases."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
import redis
import torch

from model.routing import RoutingConfig, update_offset
from service.core.errors import StoreUnavailable
from service.state.user_store import ContextChanged, LabelTerms
from tests.helpers import TEST_REDIS_URL
from tests.service.conftest import K as STORE_HEADS
from tests.service.conftest import make_store, run
from tests.service.store_calls import apply_one, state_of, with_feedback, with_feedbacks

K = STORE_HEADS


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
                out = await apply_one(store, "alice", z.tolist(), losses.tolist(), cfg, feedback_id=None)
                expected_before = torch.softmax(z + u, -1)
                u = update_offset(u, z, r_w, r_l, cfg)
                assert out.weights_before == pytest.approx(expected_before.tolist(), abs=1e-9)
                assert out.offset == pytest.approx(u.tolist(), abs=1e-9)
                assert out.weights_after == pytest.approx(torch.softmax(z + u, -1).tolist(), abs=1e-9)
            state = await state_of(store, "alice")
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
                apply_one(store, "bob", z.tolist(), (-torch.nn.functional.logsigmoid(w - l)).tolist(), cfg,
                                     feedback_id=f"f{i}")
                for i, (z, w, l) in enumerate(labels)
            ))
            return outs, await state_of(store, "bob")
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
            first = await apply_one(store, "carol", *args, feedback_id="x")
            second = await apply_one(store, "carol", *args, feedback_id="x")
            state, previous = await with_feedback(store, "carol", "x")
            return first, second, state, previous
        finally:
            await store.close()

    first, second, state, previous = run(go())
    assert first.applied and not second.applied and not previous.applied
    assert second.weights_after == first.weights_after == previous.weights_after
    assert state.n_feedback == 1


def test_keys_are_versioned_and_hash_tagged_per_user(prefix: str):
    store = make_store(prefix)
    state, fb, fbt, history, context, versions, history_bytes = store.keys("dave")
    assert state == f"{prefix}:v-test:{{dave}}"
    assert fb.startswith(state) and fbt.startswith(state)
    assert history == f"{prefix}:users:{{dave}}:history" and context == f"{prefix}:users:{{dave}}:context"
    assert versions == f"{prefix}:users:{{dave}}:versions" and history_bytes == history + "_bytes"
    run(store.close())


def test_context_check_detects_a_concurrent_context_change(prefix: str):
    async def go():
        store = make_store(prefix)
        try:
            await store.set_context("erin", "likes poems")
            with pytest.raises(ContextChanged):
                await apply_one(store, "erin", [0.0] * K, [0.1] * K, RoutingConfig(), feedback_id=None,
                                           expected_context=None, check_context=True)
            ok = await apply_one(store, "erin", [0.0] * K, [0.1] * K, RoutingConfig(), feedback_id=None,
                                            expected_context="likes poems", check_context=True)
            return ok, await state_of(store, "erin")
        finally:
            await store.close()

    ok, state = run(go())
    assert ok.applied and state.context == "likes poems" and state.version == 2


def test_delete_erases_state_and_feedback_ids(prefix: str):
    async def go():
        store = make_store(prefix)
        try:
            await apply_one(store, "frank", [0.0] * K, [0.1] * K, RoutingConfig(), feedback_id="a")
            removed = await store.delete("frank")
            return removed, await with_feedback(store, "frank", "a"), await store.delete("frank")
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
            await apply_one(store, "gina", [0.0] * K, [0.1] * K, RoutingConfig(), feedback_id="a")
        finally:
            await store.close()
        return store.keys("gina")

    state_key, fb_key, *_ = run(go())
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
                await state_of(store, "x")
            first = time.perf_counter() - start
            start = time.perf_counter()
            with pytest.raises(StoreUnavailable):
                await state_of(store, "x")
            return first, time.perf_counter() - start, await store.ping()
        finally:
            await store.close()

    first, second, alive = run(go())
    assert first < 1.0 and second < 0.01 and alive is False


# ---- batches: several labels of one user in one script run -------------------------------------
def labels_of(gen: torch.Generator, n: int, prefix: str = "b") -> tuple[list, list[LabelTerms]]:
    raw = [random_label(gen) for _ in range(n)]
    terms = [LabelTerms(f"{prefix}{i}", z.tolist(), (-torch.nn.functional.logsigmoid(w - l)).tolist())
             for i, (z, w, l) in enumerate(raw)]
    return raw, terms


@pytest.mark.parametrize("mode", ["mirror", "hedge"])
def test_batch_applies_labels_in_order_as_model_routing_would(prefix: str, mode: str):
    cfg = RoutingConfig(tau=0.7, eta=1.3, mode=mode, max_abs_offset=3.0)
    raw, terms = labels_of(torch.Generator().manual_seed(3), 20)

    async def go():
        store = make_store(prefix)
        try:
            return await store.apply_labels("hank", terms, cfg), await state_of(store, "hank")
        finally:
            await store.close()

    outs, state = run(go())
    u = torch.zeros(K, dtype=torch.float64)
    for out, (z, r_w, r_l) in zip(outs, raw, strict=True):
        assert out.weights_before == pytest.approx(torch.softmax(z + u, -1).tolist(), abs=1e-9)
        u = update_offset(u, z, r_w, r_l, cfg)
        assert out.offset == pytest.approx(u.tolist(), abs=1e-9)
        assert out.weights_after == pytest.approx(torch.softmax(z + u, -1).tolist(), abs=1e-9)
    assert [o.n_feedback for o in outs] == [o.version for o in outs] == list(range(1, 21))
    assert all(o.applied for o in outs) and state.n_feedback == 20
    assert state.offset == pytest.approx(u.tolist(), abs=1e-12)


def test_batch_equals_the_same_labels_applied_one_by_one(prefix: str):
    _, terms = labels_of(torch.Generator().manual_seed(4), 10)

    async def go():
        store = make_store(prefix)
        try:
            batch = await store.apply_labels("ian", terms, RoutingConfig())
            single = [await apply_one(store, "jane", t.prior_logits, t.losses, RoutingConfig(),
                                                 feedback_id=t.feedback_id) for t in terms]
            return batch, single
        finally:
            await store.close()

    batch, single = run(go())
    assert batch == single


def test_retried_batch_applies_nothing_twice_and_returns_the_first_results(prefix: str):
    _, terms = labels_of(torch.Generator().manual_seed(5), 6)

    async def go():
        store = make_store(prefix)
        try:
            first = await store.apply_labels("kim", terms[:3], RoutingConfig())  # as if the reply was lost midway
            second = await store.apply_labels("kim", terms, RoutingConfig())
            state, previous = await with_feedbacks(store, "kim", [t.feedback_id for t in terms] + ["never"])
            return first, second, state, previous
        finally:
            await store.close()

    first, second, state, previous = run(go())
    assert [o.applied for o in second] == [False] * 3 + [True] * 3
    assert [o.weights_after for o in second[:3]] == [o.weights_after for o in first]
    assert [o.n_feedback for o in second] == list(range(1, 7)) and state.n_feedback == 6
    assert [p.n_feedback for p in previous[:-1]] == list(range(1, 7)) and previous[-1] is None
    assert not any(p.applied for p in previous[:-1])


def test_an_id_repeated_within_a_batch_applies_once(prefix: str):
    _, terms = labels_of(torch.Generator().manual_seed(6), 2)
    repeated = [terms[0], terms[1], LabelTerms(terms[0].feedback_id, terms[1].prior_logits, terms[1].losses)]

    async def go():
        store = make_store(prefix)
        try:
            return await store.apply_labels("liam", repeated, RoutingConfig()), await state_of(store, "liam")
        finally:
            await store.close()

    outs, state = run(go())
    assert [o.applied for o in outs] == [True, True, False] and outs[2] == dataclasses.replace(outs[0], applied=False)
    assert state.n_feedback == 2


def test_batch_context_check_writes_nothing_when_the_context_changed(prefix: str):
    _, terms = labels_of(torch.Generator().manual_seed(7), 3)

    async def go():
        store = make_store(prefix)
        try:
            await store.set_context("mia", "likes poems")
            with pytest.raises(ContextChanged):
                await store.apply_labels("mia", terms, RoutingConfig(), expected_context=None, check_context=True)
            state, previous = await with_feedbacks(store, "mia", [t.feedback_id for t in terms])
            return state, previous
        finally:
            await store.close()

    state, previous = run(go())
    assert state.n_feedback == 0 and state.version == 1 and previous == [None] * 3
