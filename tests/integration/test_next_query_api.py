"""POST /v1/users/{id}/next-query (active choice of the next pair) and the stated-context
pseudo-label on the score and feedback paths, against a real server and Redis."""

from __future__ import annotations

import itertools
import math
import uuid

import httpx
import pytest

pytestmark = pytest.mark.slow

PROMPT = "Name three ways to reduce greenhouse gas emissions."
RESPONSES = [
    "1. Renewable energy. 2. Energy efficiency. 3. Reforestation.",
    "Well, my friend, buckle up: saving the planet is the greatest show on earth!",
    "From the towers of industry to the homes we build, the green winds of change blow.",
    "Investing in renewables cuts operating costs and improves long-term returns.",
]


def new_user() -> str:
    return f"nq-{uuid.uuid4().hex[:12]}"


def entropy(w: list[float]) -> float:
    return -sum(x * math.log(x) for x in w if x > 0)


def test_next_query_returns_a_valid_pair_with_positive_gain(client: httpx.Client):
    reply = client.post(f"/v1/users/{new_user()}/next-query", json={"prompt": PROMPT, "responses": RESPONSES})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    i, j = body["pair"]
    assert 0 <= i < j < len(RESPONSES)
    assert body["expected_gain"] > 0 and body["weights_source"] == "prior"
    assert abs(sum(body["weights"]) - 1) < 1e-5


def test_next_query_picks_the_pair_whose_label_shrinks_entropy_most(client: httpx.Client):
    """Label each pair both ways for fresh users; the chosen pair's expected gain is the
    largest of all pairs, computed from what the server itself then does."""
    asked = client.post(f"/v1/users/{new_user()}/next-query", json={"prompt": PROMPT, "responses": RESPONSES}).json()
    score = client.post("/v1/score", json={"prompt": PROMPT, "responses": RESPONSES, "return_head_rewards": True}).json()
    w0 = score["weights"]
    gains = {}
    for a, b in itertools.combinations(range(len(RESPONSES)), 2):
        after = {}
        for win, lose in ((a, b), (b, a)):
            fb = client.post("/v1/feedback", json={"user_id": new_user(), "prompt": PROMPT,
                                                   "chosen": RESPONSES[win], "rejected": RESPONSES[lose]}).json()
            after[(win, lose)] = fb["weights_after"]
        r = score["head_rewards"]
        p_a = sum(w * (1 / (1 + math.exp(-(r[a][k] - r[b][k])))) for k, w in enumerate(w0))
        gains[(a, b)] = entropy(w0) - (p_a * entropy(after[(a, b)]) + (1 - p_a) * entropy(after[(b, a)]))
    best = max(gains, key=gains.get)
    assert tuple(asked["pair"]) == best
    assert abs(asked["expected_gain"] - gains[best]) < 1e-3


def test_next_query_needs_two_responses(client: httpx.Client):
    reply = client.post(f"/v1/users/{new_user()}/next-query", json={"prompt": PROMPT, "responses": ["only one"]})
    assert reply.status_code == 422


def test_stated_context_moves_scores_before_any_label(client: httpx.Client):
    user = new_user()
    plain = client.post("/v1/score", json={"prompt": PROMPT, "responses": RESPONSES}).json()
    put = client.put(f"/v1/users/{user}/context", json={"context": "I want answers written like a business report."})
    assert put.status_code == 200, put.text
    scored = client.post("/v1/score", json={"user_id": user, "prompt": PROMPT, "responses": RESPONSES}).json()
    assert scored["weights_source"] == "user"
    assert max(abs(x - y) for x, y in zip(scored["weights"], plain["weights"])) > 1e-3
    again = client.post("/v1/score", json={"prompt": PROMPT, "responses": RESPONSES,
                                           "context": "I want answers written like a business report."}).json()
    assert again["weights"] == pytest.approx(scored["weights"], abs=1e-6)  # same context, same weights


def test_feedback_starts_from_the_context_weights(client: httpx.Client):
    user = new_user()
    client.put(f"/v1/users/{user}/context", json={"context": "Fun, casual answers please."}).raise_for_status()
    scored = client.post("/v1/score", json={"user_id": user, "prompt": PROMPT, "responses": RESPONSES[:2]}).json()
    fb = client.post("/v1/feedback", json={"user_id": user, "prompt": PROMPT,
                                           "chosen": RESPONSES[1], "rejected": RESPONSES[0]}).json()
    assert fb["weights_before"] == pytest.approx(scored["weights"], abs=1e-5)
