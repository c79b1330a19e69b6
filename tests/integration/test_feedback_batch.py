"""POST /v1/users/{id}/feedback:batch against the real server and Redis: the same result as the
labels posted one by one to /v1/feedback, applied in order, idempotent per label, 422 with the
item's field path, 413 over the limits."""

from __future__ import annotations

import uuid

import httpx
import pytest

pytestmark = pytest.mark.slow

CONTEXT = "I like answers with concrete numbers."
ITEMS = [
    {"prompt": "Summarise the causes of World War I.",
     "chosen": "Alliances, militarism, imperialism and nationalism, sparked in Sarajevo.",
     "rejected": "war happened because people were angry i guess"},
    {"prompt": "Write a haiku about autumn.", "chosen": "Autumn is a season. It comes after summer.",
     "rejected": "Crimson leaves drifting / the cold wind hums a soft tune / branches bare to sky"},
    {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is a hash table?"}],
     "chosen": "Keys mapped to slots by a hash function: O(1) lookups on average.",
     "rejected": "It is a table where you put hash."},
    {"prompt": "Give me a business tip.", "context": CONTEXT,
     "chosen": "Keep 3 months of costs in cash; 82% of small firms that fail run out of it.",
     "rejected": "Make money lol."},
    {"prompt": "Summarise the causes of World War I.",
     "chosen": "Alliances, militarism, imperialism and nationalism, sparked in Sarajevo.",
     "rejected": "war happened because people were angry i guess"},
]


def new_user() -> str:
    return f"b-{uuid.uuid4().hex[:12]}"


def with_ids(items: list[dict], tag: str) -> list[dict]:
    return [{**item, "feedback_id": f"{tag}-{i}"} for i, item in enumerate(items)]


def post_batch(client: httpx.Client, user: str, items: list[dict]) -> httpx.Response:
    return client.post(f"/v1/users/{user}/feedback:batch", json={"items": items})


def test_batch_equals_the_same_labels_posted_one_by_one(client: httpx.Client):
    batched, single = new_user(), new_user()
    for user in (batched, single):  # the stored context routes the labels that state none
        assert client.put(f"/v1/users/{user}/context", json={"context": "Short answers please."}).status_code == 200
    items = with_ids(ITEMS, "eq")
    reply = post_batch(client, batched, items)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    one_by_one = []
    for item in items:
        r = client.post("/v1/feedback", json={**item, "user_id": single})
        assert r.status_code == 200, r.text
        one_by_one.append(r.json())

    assert body["user_id"] == batched and len(body["results"]) == len(items)
    for got, want, item in zip(body["results"], one_by_one, items, strict=True):
        assert got["feedback_id"] == item["feedback_id"] and got["user_id"] == batched and got["applied"]
        assert got["weights_before"] == pytest.approx(want["weights_before"], abs=1e-6)
        assert got["weights_after"] == pytest.approx(want["weights_after"], abs=1e-6)
        assert (got["n_feedback"], got["version"]) == (want["n_feedback"], want["version"])
    assert [r["n_feedback"] for r in body["results"]] == list(range(1, len(items) + 1))
    assert (body["applied"], body["duplicates"], body["n_feedback"]) == (len(items), 0, len(items))
    assert body["version"] == len(items) + 1  # the context write, then one version per label
    users = [client.get(f"/v1/users/{u}").json() for u in (batched, single)]
    assert users[0]["offset"] == pytest.approx(users[1]["offset"], abs=1e-6)
    assert users[0]["n_feedback"] == users[1]["n_feedback"] == len(items)


def test_each_label_starts_from_the_weights_the_previous_one_left(client: httpx.Client):
    user = new_user()
    same = [{**ITEMS[0], "feedback_id": f"chain-{i}"} for i in range(3)]
    results = post_batch(client, user, same).json()["results"]
    for before, after in zip(results, results[1:]):
        assert after["weights_before"] == pytest.approx(before["weights_after"], abs=1e-9)
    assert results[0]["weights_before"] != pytest.approx(results[-1]["weights_after"], abs=1e-6)


def test_a_retried_batch_applies_nothing_twice(client: httpx.Client):
    user = new_user()
    items = with_ids(ITEMS, "retry")
    partial = post_batch(client, user, items[:2]).json()  # as if the first try failed after two labels
    full = post_batch(client, user, items).json()
    assert [r["applied"] for r in full["results"]] == [False, False, True, True, True]
    assert [r["weights_after"] for r in full["results"][:2]] == [r["weights_after"] for r in partial["results"]]
    assert (full["applied"], full["duplicates"], full["n_feedback"]) == (3, 2, 5)
    again = post_batch(client, user, items).json()
    assert not any(r["applied"] for r in again["results"])
    assert [r["weights_after"] for r in again["results"]] == [r["weights_after"] for r in full["results"]]
    assert (again["applied"], again["duplicates"], again["n_feedback"]) == (0, 5, 5)
    assert client.get(f"/v1/users/{user}").json()["n_feedback"] == 5


def test_a_single_post_with_an_id_of_the_batch_is_a_duplicate(client: httpx.Client):
    user = new_user()
    items = with_ids(ITEMS[:2], "mixed")
    first = post_batch(client, user, items).json()["results"][1]
    single = client.post("/v1/feedback", json={**items[1], "user_id": user}).json()
    assert not single["applied"] and single["weights_after"] == first["weights_after"]


def test_labels_without_an_id_are_each_applied_and_get_none_back(client: httpx.Client):
    user = new_user()
    body = post_batch(client, user, ITEMS[:2]).json()
    assert [r["applied"] for r in body["results"]] == [True, True]
    assert [r["feedback_id"] for r in body["results"]] == [None, None] and body["n_feedback"] == 2


@pytest.mark.parametrize(
    ("items", "field"),
    [
        ([ITEMS[0], {"prompt": "Hi?", "rejected": "No."}], "body.items.1.chosen"),
        ([{**ITEMS[0], "feedback_id": "has/slash"}], "body.items.0.feedback_id"),
        ([{**ITEMS[0], "messages": [{"role": "user", "content": "Hi?"}]}], "body.items.0"),
        ([ITEMS[0], {**ITEMS[1], "colour": "blue"}], "body.items.1.colour"),
        ([], "body.items"),
    ],
)
def test_invalid_items_are_422_naming_the_item_and_field(client: httpx.Client, items: list, field: str):
    user = new_user()
    reply = post_batch(client, user, items)
    assert reply.status_code == 422, reply.text
    assert field in [e["field"] for e in reply.json()["errors"]]
    assert client.get(f"/v1/users/{user}").status_code == 404  # nothing applied


def test_an_invalid_user_id_in_the_path_is_422(client: httpx.Client):
    assert post_batch(client, "has{brace}", ITEMS[:1]).status_code == 422


def test_over_the_limits_is_413_and_applies_nothing(client: httpx.Client):
    limits = client.get("/v1/model").json()["limits"]
    user = new_user()
    too_many = post_batch(client, user, [ITEMS[0]] * (limits["max_feedback_items"] + 1))
    assert too_many.status_code == 413 and "items" in too_many.json()["detail"]
    long_text = {**ITEMS[1], "chosen": "x" * (limits["max_text_chars"] + 1)}
    too_long = post_batch(client, user, [ITEMS[0], long_text])
    assert too_long.status_code == 413 and "items[1]" in too_long.json()["detail"]
    assert client.get(f"/v1/users/{user}").status_code == 404
