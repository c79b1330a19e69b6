"""Stored bytes bounded and erase complete, on the real Redis: a kept label is at most 64 KB whatever it
holds, the history's bytes are counted as items come and go, a tenant over its quota is refused before
anything is written (other tenants unaffected), an erase frees the tenant's bytes and removes the
user's keys under every model version."""

from __future__ import annotations

import json

import pytest
import redis

from model.routing import RoutingConfig
from service.core.errors import QuotaExceeded
from service.inference.preference_label import HISTORY_ITEM_MAX_BYTES, Label
from service.state.records import LabelTerms
from tests.helpers import TEST_REDIS_URL
from tests.service.conftest import K, make_store, run

CFG = RoutingConfig()


def terms(feedback_id: str) -> LabelTerms:
    return LabelTerms(feedback_id, [0.0] * K, [0.1, 0.2, 0.3, 0.4])


def huge_label() -> Label:
    """The probe's label: 50 chat messages of ~19,900 characters (1 MB), long responses and context."""
    messages = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"{i} " + "ü\x01x" * 6630}
                for i in range(50)]
    return Label("c" * 20000, "r" * 20000, messages=messages, context="ctx " * 1000)


def test_a_kept_label_is_at_most_64_kb_and_keeps_the_end_of_the_chat_and_the_start_of_the_responses():
    label = huge_label()
    item = label.to_history("f-1")
    assert len(item.encode()) <= HISTORY_ITEM_MAX_BYTES
    kept = json.loads(item)
    assert kept["messages"][-1]["content"] == label.messages[-1]["content"][-len(kept["messages"][-1]["content"]):]
    assert label.chosen.startswith(kept["chosen"]) and len(kept["chosen"]) > 1000
    back = Label.from_history(item)
    assert back is not None and back.digest() == label.digest()  # a retry of the full label is no conflict


def test_history_bytes_follow_items_in_and_out_and_the_tenant_quota_refuses_before_writing(prefix: str):
    item = huge_label().to_history("x")
    size = len(item.encode())

    async def go():
        store = make_store(prefix, history_max=3, tenant_max_bytes=5 * size)
        other = make_store(prefix, history_max=3, tenant_max_bytes=5 * size)
        try:
            for i in range(4):  # the 4th pushes out the 1st
                snap = await store.read("a/u1")
                await store.apply_labels("a/u1", [terms(f"u1-{i}")], CFG, history=[item],
                                         stored_bytes=snap.history_bytes + snap.context_bytes)
            snap = await store.read("a/u1")
            assert snap.history_bytes == 3 * size
            await store.apply_labels("a/u2", [terms("u2-0")], CFG, history=[item])  # 4 labels' bytes in all
            with pytest.raises(QuotaExceeded):  # 3 + 1 + 2 > 5
                await store.apply_labels("a/u3", [terms("u3-0"), terms("u3-1")], CFG, history=[item, item])
            assert (await store.read("a/u3")).state is None  # nothing written
            await other.apply_labels("b/u3", [terms("u3-0"), terms("u3-1")], CFG, history=[item, item])  # tenant b
            await store.delete("a/u1")  # frees 3 labels of tenant a's bytes
            await store.apply_labels("a/u3", [terms("u3-0"), terms("u3-1")], CFG, history=[item, item])
        finally:
            await store.close()
            await other.close()

    run(go())


def test_erase_removes_the_users_keys_under_every_model_version(prefix: str):
    async def go():
        old, new = make_store(prefix, model_version="v1"), make_store(prefix, model_version="v2")
        try:
            await old.set_context("eve", "I have diabetes.")
            await old.apply_labels("eve", [terms("e1")], CFG, history=[Label("a", "b", prompt="p").to_history("e1")])
            await new.apply_labels("eve", [terms("e1")], CFG, replay=True)  # rebuilt under v2
            await new.apply_labels("eve", [terms("e2")], CFG, history=[Label("b", "a", prompt="p").to_history("e2")])
            assert await new.delete("eve")
        finally:
            await old.close()
            await new.close()

    run(go())
    assert list(redis.Redis.from_url(TEST_REDIS_URL).scan_iter(match=f"{prefix}:*")) == []
