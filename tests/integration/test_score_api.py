"""POST /v1/score against a real server: prior vs user weights, rankings, pairs, messages."""

from __future__ import annotations

import math
import uuid

import httpx
import pytest

pytestmark = pytest.mark.slow

PROMPT = "How do vaccines train the immune system?"
RESPONSES = [
    "Vaccines show the immune system a harmless piece of a pathogen so it learns to recognise it.",
    "lol just dont get sick",
    "According to peer-reviewed immunology literature, antigen presentation primes adaptive immunity.",
]


def new_user() -> str:
    return f"u-{uuid.uuid4().hex[:12]}"


def test_score_without_user_uses_prior_weights(client: httpx.Client):
    body = client.post("/v1/score", json={"prompt": PROMPT, "responses": RESPONSES}).json()
    assert body["weights_source"] == "prior"
    assert len(body["scores"]) == 3 and sorted(body["ranking"]) == [0, 1, 2]
    assert math.isclose(sum(body["weights"]), 1.0, abs_tol=1e-5)
    assert body["scores"][body["ranking"][0]] == max(body["scores"])
    assert "p_first_preferred" not in body and "head_rewards" not in body
    assert body["truncated"] == [False, False, False]


def test_new_user_scores_equal_prior(client: httpx.Client):
    prior = client.post("/v1/score", json={"prompt": PROMPT, "responses": RESPONSES}).json()
    user = client.post("/v1/score", json={"user_id": new_user(), "prompt": PROMPT, "responses": RESPONSES}).json()
    assert user["weights_source"] == "prior"
    assert user["scores"] == pytest.approx(prior["scores"], abs=1e-6)
    assert user["weights"] == pytest.approx(prior["weights"], abs=1e-6)


def test_score_is_the_weighted_sum_of_head_rewards(client: httpx.Client):
    body = client.post(
        "/v1/score", json={"prompt": PROMPT, "responses": RESPONSES, "return_head_rewards": True}
    ).json()
    assert len(body["head_rewards"]) == 3 and all(len(r) == len(body["weights"]) for r in body["head_rewards"])
    for score, rewards in zip(body["scores"], body["head_rewards"]):
        assert score == pytest.approx(sum(w * r for w, r in zip(body["weights"], rewards)), abs=1e-4)


def test_two_responses_give_p_first_preferred_that_agrees_with_the_ranking(client: httpx.Client):
    body = client.post("/v1/score", json={"prompt": PROMPT, "responses": RESPONSES[:2]}).json()
    sa, sb = body["scores"]
    assert body["p_first_preferred"] == pytest.approx(1 / (1 + math.exp(-(sa - sb))), abs=1e-5)
    assert (body["p_first_preferred"] > 0.5) == (body["ranking"][0] == 0)


def test_messages_score_like_an_equivalent_transcript(client: httpx.Client):
    messages = [{"role": "user", "content": PROMPT}]
    body = client.post("/v1/score", json={"messages": messages, "responses": RESPONSES}).json()
    assert len(body["scores"]) == 3 and body["weights_source"] == "prior"


def test_request_context_changes_router_weights(client: httpx.Client):
    plain = client.post("/v1/score", json={"prompt": PROMPT, "responses": RESPONSES}).json()
    ctx = client.post(
        "/v1/score", json={"prompt": PROMPT, "responses": RESPONSES, "context": "I love jokes and memes."}
    ).json()
    assert ctx["weights"] != pytest.approx(plain["weights"], abs=1e-6)


def test_long_texts_are_truncated_and_flagged(client: httpx.Client):
    body = client.post("/v1/score", json={"prompt": PROMPT, "responses": ["word " * 2000, "short"]}).json()
    assert body["truncated"] == [True, False]


def test_concurrent_scores_equal_sequential_scores(server: str):
    import asyncio

    payloads = [{"prompt": f"{PROMPT} ({i})", "responses": RESPONSES} for i in range(12)]

    async def run() -> list[dict]:
        async with httpx.AsyncClient(base_url=server, timeout=60) as c:
            replies = await asyncio.gather(*(c.post("/v1/score", json=p) for p in payloads))
        return [r.json() for r in replies]

    together = asyncio.run(run())
    with httpx.Client(base_url=server, timeout=60) as c:
        alone = [c.post("/v1/score", json=p).json() for p in payloads[:3]]
    for a, b in zip(alone, together):
        assert a["scores"] == pytest.approx(b["scores"], abs=1e-4)
