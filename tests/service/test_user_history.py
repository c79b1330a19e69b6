"""service.inference.user_history against the real Redis (db 15, unique prefix) with the tiny hand-set heads
and the hashing embedder (tests/service/engine_doubles.py): a label survives its JSON round trip;
a user taught under one model version is rebuilt under another exactly as if the labels had been
posted there; concurrent first uses share one rebuild."""

from __future__ import annotations

import asyncio

import pytest

from model.routing import RoutingConfig
from service.core import metrics
from service.inference.engine import RewardEngine
from service.inference.preference_label import Label
from service.inference.user_history import UserHistory
from tests.service.conftest import make_store, run
from tests.service.engine_doubles import HashingEmbedder, K, tiny_heads

ROUTING = RoutingConfig(tau=1.0, eta=1.0)
LABELS = [Label(f"good answer {i}", f"bad answer {i}", prompt=f"question {i}", feedback_id=f"l{i}") for i in range(6)]


def rebuilt_count() -> float:
    return metrics.REGISTRY.get_sample_value("micro_users_rebuilt_total", {"result": "rebuilt"}) or 0.0


def engine_on(store) -> RewardEngine:
    embedder = HashingEmbedder()
    return RewardEngine(tiny_heads(), ROUTING, embedder, embedder, store, "tiny")  # type: ignore[arg-type]


def history_of(store) -> UserHistory:
    return engine_on(store).history


def test_a_label_survives_its_history_round_trip():
    chat = Label("yes", "no", messages=[{"role": "user", "content": "ok?"}], context="terse", feedback_id="c1")
    plain = Label("yes", "no", prompt="ok?", feedback_id="p1")
    assert Label.from_history(chat.to_history("c1")) == chat
    assert Label.from_history(plain.to_history("p1")) == plain
    assert Label.from_history("not json") is None and Label.from_history('{"id": "x"}') is None


def test_a_user_is_rebuilt_under_a_new_version_as_if_taught_there_and_once_when_asked_concurrently(prefix: str):
    assert K == 3
    old, new, direct = (make_store(prefix, model_version=v, num_heads=K) for v in ("v1", "v2", "direct"))

    async def go():
        try:
            await old.set_context("ada", "short answers")
            await engine_on(old).feedback("ada", LABELS)
            await direct.set_context("ada", "short answers")
            await engine_on(direct).feedback("ada", LABELS)
            history = history_of(new)
            before = rebuilt_count()
            snapshots = await asyncio.gather(*(history.snapshot("ada") for _ in range(5)))
            return snapshots, rebuilt_count() - before, (await direct.read("ada")).state
        finally:
            for store in (old, new, direct):
                await store.close()

    snapshots, rebuilds, taught_there = run(go())
    assert rebuilds == 1  # five concurrent first uses, one replay
    for snapshot in snapshots:
        assert not snapshot.rebuild and snapshot.state.n_feedback == len(LABELS)
        assert snapshot.state.context == "short answers"
        assert snapshot.state.offset == pytest.approx(taught_there.offset, abs=1e-9)
