"""POST /v1/feedback: the online routing update, atomic under concurrency, idempotent by id."""

from __future__ import annotations

import asyncio
import math
import uuid

import httpx
import pytest
import torch

from model.routing import RoutingConfig, update_offset

pytestmark = pytest.mark.slow

PAIRS = [
    ("Summarise the causes of World War I.",
     "Alliances, militarism, imperialism and nationalism, sparked by the assassination in Sarajevo.",
     "war happened because people were angry i guess"),
    ("Write a haiku about autumn.",
     "Crimson leaves drifting / the cold wind hums a soft tune / branches bare to sky",
     "Autumn is a season. It comes after summer."),
    ("What is a hash table?",
     "A structure mapping keys to slots with a hash function, giving average O(1) lookups.",
     "It is a table where you put hash."),
    ("Give me a business tip.",
     "Track your cash flow weekly; profitable firms still fail when they run out of cash.",
     "Make money lol."),
    ("Explain recursion to a child.",
     "It is like Russian dolls: each doll holds a smaller one, until the tiniest doll ends it.",
     "Recursion is when a function calls itself recursively via recursion."),
]


def new_user() -> str:
    return f"u-{uuid.uuid4().hex[:12]}"


def feedback(prompt: str, chosen: str, rejected: str, user: str, **extra) -> dict:
    return {"user_id": user, "prompt": prompt, "chosen": chosen, "rejected": rejected, **extra}


def prior_of(client: httpx.Client, prompt: str, chosen: str, rejected: str) -> tuple[list[float], list[list[float]]]:
    body = client.post(
        "/v1/score", json={"prompt": prompt, "responses": [chosen, rejected], "return_head_rewards": True}
    ).json()
    return body["weights"], body["head_rewards"]


def test_feedback_moves_weights_toward_agreeing_heads(client: httpx.Client):
    prompt, chosen, rejected = PAIRS[0]
    weights, (r_chosen, r_rejected) = prior_of(client, prompt, chosen, rejected)
    margins = [a - b for a, b in zip(r_chosen, r_rejected)]
    best, worst = margins.index(max(margins)), margins.index(min(margins))
    user = new_user()
    body = client.post("/v1/feedback", json=feedback(prompt, chosen, rejected, user)).json()
    assert body["applied"] is True and body["n_feedback"] == 1
    assert body["weights_before"] == pytest.approx(weights, abs=1e-5)
    assert body["weights_after"][best] > body["weights_before"][best]
    assert body["weights_after"][worst] < body["weights_before"][worst]
    scored = client.post("/v1/score", json={"user_id": user, "prompt": prompt, "responses": [chosen, rejected]}).json()
    assert scored["weights_source"] == "user"
    assert scored["weights"] == pytest.approx(body["weights_after"], abs=1e-5)


def test_repeated_feedback_raises_agreeing_heads_probability(client: httpx.Client):
    prompt, chosen, rejected = PAIRS[1]
    user = new_user()
    before = client.post("/v1/score", json={"prompt": prompt, "responses": [chosen, rejected]}).json()
    for _ in range(5):
        client.post("/v1/feedback", json=feedback(prompt, chosen, rejected, user)).raise_for_status()
    after = client.post("/v1/score", json={"user_id": user, "prompt": prompt, "responses": [chosen, rejected]}).json()
    assert after["p_first_preferred"] > before["p_first_preferred"]


def test_feedback_twice_with_same_id_applies_once(client: httpx.Client):
    prompt, chosen, rejected = PAIRS[2]
    user = new_user()
    first = client.post("/v1/feedback", json=feedback(prompt, chosen, rejected, user, feedback_id="fb-1")).json()
    again = client.post("/v1/feedback", json=feedback(prompt, chosen, rejected, user, feedback_id="fb-1")).json()
    assert first["applied"] is True and again["applied"] is False
    assert again["n_feedback"] == 1 and again["version"] == first["version"]
    assert again["weights_after"] == first["weights_after"]
    assert client.get(f"/v1/users/{user}").json()["n_feedback"] == 1
    other = client.post("/v1/feedback", json=feedback(prompt, chosen, rejected, user, feedback_id="fb-2")).json()
    assert other["applied"] is True and other["n_feedback"] == 2


def test_concurrent_same_feedback_id_applies_once(server: str):
    prompt, chosen, rejected = PAIRS[3]
    user = new_user()

    async def run() -> list[dict]:
        async with httpx.AsyncClient(base_url=server, timeout=60) as c:
            body = feedback(prompt, chosen, rejected, user, feedback_id="same")
            replies = await asyncio.gather(*(c.post("/v1/feedback", json=body) for _ in range(10)))
        return [r.json() for r in replies]

    results = asyncio.run(run())
    assert sum(r["applied"] for r in results) == 1
    assert {r["n_feedback"] for r in results} == {1}


def test_fifty_concurrent_feedbacks_match_sequential_replay(client: httpx.Client, server: str):
    user = new_user()
    posts = [PAIRS[i % len(PAIRS)] for i in range(50)]
    # alternate the label direction too, so the order of application matters
    posts = [(p, c, r) if i % 3 else (p, r, c) for i, (p, c, r) in enumerate(posts)]

    async def run() -> list[dict]:
        async with httpx.AsyncClient(base_url=server, timeout=120, limits=httpx.Limits(max_connections=50)) as c:
            replies = await asyncio.gather(
                *(c.post("/v1/feedback", json=feedback(p, ch, rj, user)) for p, ch, rj in posts)
            )
        assert all(r.status_code == 200 for r in replies), [r.text for r in replies if r.status_code != 200]
        return [r.json() for r in replies]

    results = asyncio.run(run())
    state = client.get(f"/v1/users/{user}").json()
    assert state["n_feedback"] == 50 and state["version"] == 50
    assert sorted(r["version"] for r in results) == list(range(1, 51))  # each post applied exactly once

    cfg = RoutingConfig(**client.get("/v1/model").json()["routing"])
    priors = {post: prior_of(client, *post) for post in set(posts)}  # weights, (r_chosen, r_rejected)
    offset = torch.zeros(len(state["offset"]), dtype=torch.float64)
    for i in sorted(range(50), key=lambda i: results[i]["version"]):  # the order Redis applied them in
        weights, (r_chosen, r_rejected) = priors[posts[i]]
        z = torch.log(torch.tensor(weights, dtype=torch.float64))  # prior logits, up to a constant
        before = torch.softmax(z + offset, -1)
        offset = update_offset(
            offset, z, torch.tensor(r_chosen, dtype=torch.float64), torch.tensor(r_rejected, dtype=torch.float64), cfg
        )
        assert results[i]["weights_before"] == pytest.approx(before.tolist(), abs=1e-4)
        assert results[i]["weights_after"] == pytest.approx(torch.softmax(z + offset, -1).tolist(), abs=1e-4)
    assert state["offset"] == pytest.approx(offset.tolist(), abs=1e-4)


def test_feedback_requires_a_user_id(client: httpx.Client):
    prompt, chosen, rejected = PAIRS[0]
    reply = client.post("/v1/feedback", json={"prompt": prompt, "chosen": chosen, "rejected": rejected})
    assert reply.status_code == 422
    assert any(e["field"] == "body.user_id" for e in reply.json()["errors"])


def test_probabilities_stay_finite_after_many_identical_labels(client: httpx.Client):
    prompt, chosen, rejected = PAIRS[4]
    user = new_user()
    for _ in range(20):
        body = client.post("/v1/feedback", json=feedback(prompt, chosen, rejected, user)).json()
    assert all(math.isfinite(w) for w in body["weights_after"])
    assert math.isclose(sum(body["weights_after"]), 1.0, abs_tol=1e-6)
