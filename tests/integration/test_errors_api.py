"""Bad input: 422 with field paths; over the limits: 413."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.slow


def fields(reply: httpx.Response) -> set[str]:
    assert reply.headers["content-type"] == "application/problem+json"
    return {e["field"] for e in reply.json()["errors"]}


@pytest.mark.parametrize(
    "body, field",
    [
        ({"prompt": "p", "responses": []}, "body.responses"),
        ({"prompt": "p", "responses": ["a"], "temperature": 0.5}, "body.temperature"),
        ({"prompt": "p", "responses": "a"}, "body.responses"),
        ({"prompt": "p", "responses": [1, 2]}, "body.responses.0"),
        ({"prompt": 3, "responses": ["a"]}, "body.prompt"),
        ({"prompt": "p", "responses": ["a"], "return_head_rewards": "often"}, "body.return_head_rewards"),
        ({"messages": [{"role": "user"}], "responses": ["a"]}, "body.messages.0.content"),
    ],
)
def test_bad_score_input_is_422_with_field_path(client: httpx.Client, body: dict, field: str):
    reply = client.post("/v1/score", json=body)
    assert reply.status_code == 422
    assert field in fields(reply)


def test_prompt_and_messages_together_or_neither_is_422(client: httpx.Client):
    both = {"prompt": "p", "messages": [{"role": "user", "content": "p"}], "responses": ["a"]}
    assert client.post("/v1/score", json=both).status_code == 422
    assert client.post("/v1/score", json={"responses": ["a"]}).status_code == 422


def test_malformed_json_is_422(client: httpx.Client):
    reply = client.post("/v1/score", content=b"{not json", headers={"content-type": "application/json"})
    assert reply.status_code == 422


def test_too_many_responses_is_413(client: httpx.Client):
    reply = client.post("/v1/score", json={"prompt": "p", "responses": ["a"] * 65})
    assert reply.status_code == 413
    assert "64" in reply.json()["detail"]


def test_too_long_text_is_413(client: httpx.Client):
    reply = client.post("/v1/score", json={"prompt": "p", "responses": ["x" * 20001]})
    assert reply.status_code == 413
    reply = client.post("/v1/feedback", json={"user_id": "u", "prompt": "p" * 20001, "chosen": "a", "rejected": "b"})
    assert reply.status_code == 413


def test_too_long_context_is_413(client: httpx.Client):
    assert client.put("/v1/users/u-ctx/context", json={"context": "c" * 4001}).status_code == 413


def test_too_large_body_is_413(client: httpx.Client):
    reply = client.post("/v1/score", content=b"x" * (8 * 1024 * 1024 + 1), headers={"content-type": "application/json"})
    assert reply.status_code == 413
