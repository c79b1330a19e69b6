"""GET / DELETE /v1/users/{id}, PUT /v1/users/{id}/context."""

from __future__ import annotations

import uuid

import httpx
import pytest

pytestmark = pytest.mark.slow

PROMPT, CHOSEN, REJECTED = "Recommend a book.", "Try 'The Left Hand of Darkness' by Le Guin.", "books r boring"


def new_user() -> str:
    return f"u-{uuid.uuid4().hex[:12]}"


def post_feedback(client: httpx.Client, user: str) -> dict:
    body = {"user_id": user, "prompt": PROMPT, "chosen": CHOSEN, "rejected": REJECTED}
    reply = client.post("/v1/feedback", json=body)
    reply.raise_for_status()
    return reply.json()


def test_unknown_user_is_404(client: httpx.Client):
    reply = client.get(f"/v1/users/{new_user()}")
    assert reply.status_code == 404
    assert reply.headers["content-type"] == "application/problem+json"


def test_get_user_shows_feedback_count_and_offset(client: httpx.Client):
    user = new_user()
    post_feedback(client, user)
    last = post_feedback(client, user)
    state = client.get(f"/v1/users/{user}").json()
    assert state["n_feedback"] == 2 and state["version"] == 2
    assert state["context"] is None and state["updated_at"] > 0
    assert len(state["offset"]) == len(last["weights_after"])
    assert abs(sum(state["offset"])) < 1e-9  # the offset is kept centred
    assert sum(state["base_weights"]) == pytest.approx(1.0)


def test_delete_user_erases_state_and_feedback_ids(client: httpx.Client):
    user = new_user()
    body = {"user_id": user, "prompt": PROMPT, "chosen": CHOSEN, "rejected": REJECTED, "feedback_id": "once"}
    assert client.post("/v1/feedback", json=body).json()["applied"] is True
    assert client.delete(f"/v1/users/{user}").status_code == 204
    assert client.get(f"/v1/users/{user}").status_code == 404
    scored = client.post("/v1/score", json={"user_id": user, "prompt": PROMPT, "responses": [CHOSEN]}).json()
    assert scored["weights_source"] == "prior"
    # the feedback id was forgotten too: the same id applies again, from scratch
    again = client.post("/v1/feedback", json=body).json()
    assert again["applied"] is True and again["n_feedback"] == 1
    assert client.delete(f"/v1/users/{user}").status_code == 204
    assert client.delete(f"/v1/users/{user}").status_code == 204  # idempotent


def test_put_context_is_read_by_the_router(client: httpx.Client):
    user = new_user()
    context = "I prefer playful answers full of jokes."
    state = client.put(f"/v1/users/{user}/context", json={"context": context}).json()
    assert state["context"] == context and state["n_feedback"] == 0
    mine = client.post("/v1/score", json={"user_id": user, "prompt": PROMPT, "responses": [CHOSEN, REJECTED]}).json()
    same = client.post(
        "/v1/score", json={"prompt": PROMPT, "responses": [CHOSEN, REJECTED], "context": context}
    ).json()
    assert mine["weights_source"] == "user"
    assert mine["weights"] == pytest.approx(same["weights"], abs=1e-6)
    cleared = client.put(f"/v1/users/{user}/context", json={"context": None}).json()
    assert cleared["context"] is None and cleared["version"] == 2


def test_feedback_uses_the_stored_context(client: httpx.Client):
    user = new_user()
    context = "Answer like a business consultant."
    client.put(f"/v1/users/{user}/context", json={"context": context}).raise_for_status()
    with_ctx = client.post(
        "/v1/score", json={"prompt": PROMPT, "responses": [CHOSEN, REJECTED], "context": context}
    ).json()
    body = post_feedback(client, user)
    assert body["weights_before"] == pytest.approx(with_ctx["weights"], abs=1e-5)


def test_user_id_with_forbidden_characters_is_422(client: httpx.Client):
    assert client.get("/v1/users/bad%7Bid%7D").status_code == 422
    reply = client.post("/v1/score", json={"user_id": "a b", "prompt": PROMPT, "responses": [CHOSEN]})
    assert reply.status_code == 422
