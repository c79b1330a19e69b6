"""POST /v1/score:batch against the real server: results in item order, each what /v1/score
returns for the item (users, contexts, chat messages, head rewards), limits, and field paths of
a bad item."""

from __future__ import annotations

import uuid

import httpx
import pytest

from service.core.config import Settings

PROMPT = "Explain photosynthesis."
GOOD, BAD = "Plants turn light into sugar.", "lol idk"
MAX_ITEMS, MAX_RESPONSES, MAX_TOTAL = (Settings.model_fields[name].default  # the session server's limits
                                       for name in ("max_batch_items", "max_responses", "max_batch_responses"))


def taught_user(client: httpx.Client) -> str:
    user = f"u-{uuid.uuid4().hex[:12]}"
    for _ in range(3):
        body = {"user_id": user, "prompt": PROMPT, "chosen": BAD, "rejected": GOOD}
        client.post("/v1/feedback", json=body).raise_for_status()
    return user


def test_each_result_is_what_score_returns_for_its_item_in_order(client: httpx.Client):
    user = taught_user(client)
    items = [
        {"user_id": user, "prompt": PROMPT, "responses": [GOOD, BAD], "return_head_rewards": True},
        {"prompt": PROMPT, "responses": [GOOD, BAD]},
        {"user_id": user, "prompt": "Plan a trip.", "responses": ["Go in spring.", "Stay home.", "Rome."],
         "context": "I like short answers."},
        {"messages": [{"role": "user", "content": "Name a prime."}], "responses": ["Seven."]},
    ]
    reply = client.post("/v1/score:batch", json={"items": items})
    assert reply.status_code == 200, reply.text
    results = reply.json()["results"]
    assert len(results) == len(items)
    for item, got in zip(items, results, strict=True):
        alone = client.post("/v1/score", json=item).json()
        assert set(got) == set(alone)
        for key in ("scores", "weights", "p_first_preferred"):
            assert got.get(key) == pytest.approx(alone.get(key), abs=1e-3), key
        for got_row, alone_row in zip(got.get("head_rewards", []), alone.get("head_rewards", []), strict=True):
            assert got_row == pytest.approx(alone_row, abs=1e-3)
        assert got["ranking"] == alone["ranking"] and got["weights_source"] == alone["weights_source"]
        assert got["truncated"] == alone["truncated"] and got["model_version"] == alone["model_version"]
    assert results[0]["weights_source"] == "user" and results[1]["weights_source"] == "prior"
    assert results[0]["scores"] != pytest.approx(results[1]["scores"], abs=1e-4)


@pytest.mark.parametrize(
    ("items", "field"),
    [
        ([{"prompt": PROMPT, "responses": [GOOD]}, {"prompt": PROMPT, "responses": []}], "body.items.1.responses"),
        ([{"prompt": PROMPT, "responses": [GOOD], "user_id": "a/b"}], "body.items.0.user_id"),
        ([{"prompt": PROMPT, "responses": [GOOD], "typo": 1}], "body.items.0.typo"),
        ([], "body.items"),
    ],
)
def test_a_bad_item_is_422_naming_its_field(client: httpx.Client, items: list, field: str):
    reply = client.post("/v1/score:batch", json={"items": items})
    assert reply.status_code == 422, reply.text
    assert field in [e["field"] for e in reply.json()["errors"]]


def test_over_the_limits_is_413_naming_the_item(client: httpx.Client):
    one = {"prompt": PROMPT, "responses": [GOOD]}
    too_many = client.post("/v1/score:batch", json={"items": [one] * (MAX_ITEMS + 1)})
    assert too_many.status_code == 413 and "items" in too_many.json()["detail"]
    long_item = {"prompt": PROMPT, "responses": [GOOD] * (MAX_RESPONSES + 1)}
    one_too_long = client.post("/v1/score:batch", json={"items": [one, long_item]})
    assert one_too_long.status_code == 413 and one_too_long.json()["detail"].startswith("items[1]")
    full = {"prompt": PROMPT, "responses": [GOOD] * MAX_RESPONSES}
    total = client.post("/v1/score:batch", json={"items": [full] * (MAX_TOTAL // MAX_RESPONSES + 1)})
    assert total.status_code == 413 and "responses of all items" in total.json()["detail"]
