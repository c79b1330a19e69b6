"""Idempotent, atomic feedback under concurrency: 200 posts at once on one user, 20 % of them
sent twice with the same feedback_id, end in exactly the state of replaying the unique ones one
by one in the order the store applied them."""

from __future__ import annotations

import asyncio
import random
import uuid

import httpx
import pytest

N_UNIQUE, N_TWICE = 160, 40  # 160 + 40 = 200 posts, 20 % of them duplicates
PAIRS = [
    ("Name a prime number.", "Seven is prime.", "Nine is prime."),
    ("Explain photosynthesis.", "Plants turn light, water and CO2 into sugar.", "Plants eat soil."),
    ("Say hello.", "Hello!", "Go away."),
    ("Write a haiku about rain.", "Soft rain on the roof / ...", "Rain is wet."),
    ("What is 2 + 2?", "4", "5"),
]


def body(user: str, i: int, feedback_id: str | None) -> dict:
    prompt, chosen, rejected = PAIRS[i % len(PAIRS)]
    if i % 3 == 2:  # some labels go the other way, so the offset does not just run to a corner
        chosen, rejected = rejected, chosen
    out = {"user_id": user, "prompt": prompt, "chosen": chosen, "rejected": rejected}
    if feedback_id is not None:
        out["feedback_id"] = feedback_id
    return out


async def post_all(base_url: str, bodies: list[dict]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as c:
        return await asyncio.gather(*(c.post("/v1/feedback", json=b) for b in bodies))


def test_concurrent_feedback_with_retried_ids_equals_sequential_replay_of_unique_ones(server: str):
    user, replay_user = f"conc-{uuid.uuid4().hex[:8]}", f"replay-{uuid.uuid4().hex[:8]}"
    ids = [f"fb-{i}-{uuid.uuid4().hex[:6]}" for i in range(N_UNIQUE)]
    posts = [(i, ids[i]) for i in range(N_UNIQUE)] + [(i, ids[i]) for i in random.Random(0).sample(range(N_UNIQUE), N_TWICE)]
    random.Random(1).shuffle(posts)

    responses = asyncio.run(post_all(server, [body(user, i, fid) for i, fid in posts]))
    assert [r.status_code for r in responses] == [200] * len(posts)

    by_id: dict[str, list[dict]] = {}
    for (_, fid), r in zip(posts, responses, strict=True):
        by_id.setdefault(fid, []).append(r.json())
    applied_order: list[int] = [0] * N_UNIQUE  # the position (n_feedback) at which each unique label applied
    for i, fid in enumerate(ids):
        results = by_id[fid]
        assert sum(r["applied"] for r in results) == 1, fid  # a retry never applies twice
        first = next(r for r in results if r["applied"])
        for r in results:  # the retry gets the first result back
            assert (r["n_feedback"], r["version"], r["weights_after"]) == (
                first["n_feedback"], first["version"], first["weights_after"])
        applied_order[i] = first["n_feedback"]
    assert sorted(applied_order) == list(range(1, N_UNIQUE + 1))  # no update lost, none applied twice

    with httpx.Client(base_url=server, timeout=60) as c:
        final = c.get(f"/v1/users/{user}").json()
        assert final["n_feedback"] == N_UNIQUE and final["version"] == N_UNIQUE
        for i in sorted(range(N_UNIQUE), key=applied_order.__getitem__):
            assert c.post("/v1/feedback", json=body(replay_user, i, None)).status_code == 200
        replay = c.get(f"/v1/users/{replay_user}").json()
        c.delete(f"/v1/users/{user}")
        c.delete(f"/v1/users/{replay_user}")
    assert replay["n_feedback"] == N_UNIQUE
    assert final["offset"] == pytest.approx(replay["offset"], abs=1e-5)
    assert final["base_weights"] == pytest.approx(replay["base_weights"], abs=1e-5)
