"""UserStore's guards against the real Redis (db 15, unique prefix): a corrupt stored state reads
as the prior and is counted; a non-finite update is never stored; the remembered feedback ids
are bounded; a command resent after a lost reply reports applied; each label's texts join the
user's kept history (bounded, outside the model version) and DELETE erases it."""

from __future__ import annotations

import json
import math
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
import redis

from model.routing import RoutingConfig
from service.core import metrics
from service.core.errors import InferenceFailed
from service.state.user_store import LabelTerms, UserStore
from tests.helpers import TEST_REDIS_URL
from tests.service.conftest import K, make_store, run
from tests.service.store_calls import apply_one, state_of, with_feedbacks

CFG = RoutingConfig()
T = TypeVar("T")


def client() -> redis.Redis:
    return redis.Redis.from_url(TEST_REDIS_URL, decode_responses=True)


def run_closing(store: UserStore, work: Coroutine[Any, Any, T]) -> T:
    """Run ``work``, then close the store's Redis pool whatever happened."""

    async def go() -> T:
        try:
            return await work
        finally:
            await store.close()

    return run(go())


def repaired_count() -> float:
    return metrics.REGISTRY.get_sample_value("micro_state_repaired_total") or 0.0


@pytest.mark.parametrize("offset", ["[NaN, 0, 0, 0]", "[1e999, 0, 0, 0]", "[1, 2]", "not json", '{"a": 1}',
                                    "[nan,0,0,0]"])
def test_a_corrupt_stored_offset_reads_as_the_prior_is_counted_and_feedback_repairs_it(prefix: str, offset: str):
    store = make_store(prefix)
    client().hset(store.keys("cora").state, mapping={"offset": offset, "n": "3", "version": "3"})
    before = repaired_count()

    async def go():
        state = await state_of(store, "cora")
        out = await apply_one(store, "cora", [0.0] * K, [0.1, 0.2, 0.3, 0.4], CFG, feedback_id="f")
        return state, out, await state_of(store, "cora")

    state, out, after = run_closing(store, go())
    assert state.offset == [0.0] * K and repaired_count() == before + 1
    assert out.applied and out.weights_before == pytest.approx([0.25] * K)  # the update started from the prior
    assert all(math.isfinite(x) for x in after.offset) and after.n_feedback == 4


def test_corrupt_counters_read_as_zero_and_never_fail(prefix: str):
    store = make_store(prefix)
    client().hset(store.keys("cy").state, mapping={"offset": "[0,0,0,0]", "n": "many", "version": "nan"})

    async def go():
        state = await state_of(store, "cy")
        out = await apply_one(store, "cy", [0.0] * K, [0.1] * K, CFG, feedback_id="f")
        return state, out

    state, out = run_closing(store, go())
    assert state.n_feedback == 0 and out.n_feedback == 1


def test_non_finite_terms_are_refused_and_nothing_is_stored(prefix: str):
    store = make_store(prefix)

    async def go():
        with pytest.raises(InferenceFailed):
            await apply_one(store, "nan", [0.0] * K, [math.nan, 0.1, 0.1, 0.1], CFG, feedback_id="f")
        return await state_of(store, "nan")

    assert run_closing(store, go()) is None


def test_an_update_overflowing_to_infinity_leaves_the_offset_finite(prefix: str):
    store = make_store(prefix)
    tiny_tau = RoutingConfig(tau=1e-300, mode="hedge", max_abs_offset=30.0)  # L / tau overflows to inf

    async def go():
        await apply_one(store, "inf", [0.0] * K, [0.1] * K, CFG, feedback_id="a")
        before = await state_of(store, "inf")
        out = await apply_one(store, "inf", [0.0] * K, [1e10, 0.1, 5.0, 1.0], tiny_tau, feedback_id="b")
        return before, out, await state_of(store, "inf")

    before, out, after = run_closing(store, go())
    assert all(math.isfinite(x) for x in out.offset + out.weights_after)
    assert after.offset == pytest.approx(before.offset) and after.n_feedback == 2  # counted, offset unchanged


def test_only_the_last_n_feedback_ids_are_remembered(prefix: str):
    store = make_store(prefix, feedback_id_max=5)
    terms = [LabelTerms(f"id{i}", [0.0] * K, [0.1] * K) for i in range(12)]

    async def go():
        for t in terms:  # one call each: the bound holds across calls
            await store.apply_labels("bo", [t], CFG)
        return await with_feedbacks(store, "bo", [t.feedback_id for t in terms])

    state, previous = run_closing(store, go())
    keys = store.keys("bo")
    assert client().hlen(keys.feedback) == 5 and client().zcard(keys.feedback_times) == 5
    assert [p is not None for p in previous] == [False] * 7 + [True] * 5 and state.n_feedback == 12


def test_a_command_resent_after_its_reply_was_lost_reports_applied(prefix: str):
    store = make_store(prefix)
    label = LabelTerms("lost", [0.0] * K, [0.1, 0.2, 0.3, 0.4])

    async def go():
        first = await store.apply_labels("rex", [label], CFG, attempt="attempt-1")
        resent = await store.apply_labels("rex", [label], CFG, attempt="attempt-1")  # as redis-py's retry does
        other = await store.apply_labels("rex", [label], CFG, attempt="attempt-2")  # a new request, same id
        return first[0], resent[0], other[0], await state_of(store, "rex")

    first, resent, other, state = run_closing(store, go())
    assert first.applied and resent.applied and not other.applied
    assert resent.weights_after == first.weights_after == other.weights_after and state.n_feedback == 1


def test_labels_join_the_kept_history_bounded_outside_the_model_version(prefix: str):
    store = make_store(prefix, history_max=3)
    terms = [LabelTerms(f"h{i}", [0.0] * K, [0.1] * K) for i in range(5)]
    items = [json.dumps({"id": f"h{i}", "i": i}) for i in range(5)]

    async def go():
        await store.apply_labels("hal", terms[:2], CFG, history=items[:2])
        await store.apply_labels("hal", terms[:2], CFG, history=items[:2])  # duplicates: not recorded again
        await store.apply_labels("hal", terms[2:], CFG, history=items[2:])
        await store.set_context("hal", "likes haiku")
        kept = await store.kept("hal")
        upgraded = make_store(prefix, model_version="v-next")
        snapshot = await upgraded.read("hal")
        await upgraded.close()
        return kept, snapshot

    (history, context), snapshot = run_closing(store, go())
    assert history == items[2:] and context == "likes haiku"
    assert snapshot.state is None and snapshot.rebuild  # a new model version: rebuild from the kept history
    assert ":v-test:" not in store.keys("hal").history


def test_replay_starts_a_new_state_from_the_kept_context_and_records_nothing(prefix: str):
    old, new = make_store(prefix), make_store(prefix, model_version="v-next")
    item = json.dumps({"id": "r1"})

    async def go():
        try:
            await old.set_context("rae", "short answers")
            await old.apply_labels("rae", [LabelTerms("r1", [0.0] * K, [0.1] * K)], CFG, history=[item])
            outs = await new.apply_labels("rae", [LabelTerms("r1", [0.0] * K, [0.2] * K)], CFG, replay=True)
            again = await new.apply_labels("rae", [LabelTerms("r1", [0.0] * K, [0.2] * K)], CFG, replay=True)
            return outs, again, await new.read("rae"), await new.kept("rae")
        finally:
            await old.close()
            await new.close()

    outs, again, snapshot, (history, _) = run(go())
    assert outs[0].applied and not again[0].applied and history == [item]
    assert snapshot.state.context == "short answers" and snapshot.state.n_feedback == 1 and not snapshot.rebuild


def test_delete_erases_the_kept_history_and_context(prefix: str):
    store = make_store(prefix)

    async def go():
        await store.set_context("del", "terse")
        await store.apply_labels("del", [LabelTerms("d1", [0.0] * K, [0.1] * K)], CFG, history=["{}"])
        await store.delete("del")
        return await store.kept("del"), await store.read("del")

    (history, context), snapshot = run_closing(store, go())
    assert history == [] and context is None and snapshot.state is None and not snapshot.rebuild
    assert not list(client().scan_iter(match=f"{prefix}:*"))


def test_history_max_zero_keeps_no_texts(prefix: str):
    store = make_store(prefix, history_max=0)

    async def go():
        await store.apply_labels("nil", [LabelTerms("n1", [0.0] * K, [0.1] * K)], CFG, history=["{}"])
        return await store.kept("nil")

    assert run_closing(store, go()) == ([], None)
