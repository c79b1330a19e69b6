"""Malformed and reused requests, probed as an attacker would (auth on, two tenants, URL keys on):
a label nested 5000 deep is a 422 (was a 500), a feedback_id reused with another label is a 409
(was a silent 200) and changes nothing, a URL-key path with a trailing slash is a 404 without a
redirect (a 307's Location repeated the key), chosen == rejected is a 422 (was counted as a label)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from evaluation.service_process import ServiceProcess
from tests.helpers import bearer
from tests.integration.conftest import keyed_service

KEY_A, KEY_A_RO, KEY_B = (f"key-{name}-{uuid.uuid4().hex}" for name in ("a", "a-ro", "b"))
PROMPT, CHOSEN, REJECTED = "Name a prime number.", "Seven is prime.", "Nine is prime."


@pytest.fixture(scope="module")
def secured(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    keys = [("a", "read+write", KEY_A), ("a", "read", KEY_A_RO), ("b", "read+write", KEY_B)]
    with keyed_service("abuse", tmp_path_factory, tiny_checkpoint, keys, max_wait_ms=2) as proc:
        yield proc


@pytest.fixture()
def client(secured: ServiceProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=secured.url, timeout=60, headers=bearer(KEY_A)) as c:
        yield c


def nested(depth: int) -> str:
    return "{" + '"a":{' * depth + "}" * (depth + 1)


def test_a_label_nested_5000_deep_is_a_422_naming_it(client: httpx.Client):
    body = {"query": [PROMPT + CHOSEN, PROMPT + REJECTED], "labels": [{"user_id": "u-1"}, nested(5000)]}
    for reply in (client.post("/get_reward", json=body),
                  httpx.post(f"{client.base_url}/k/{KEY_A_RO}/get_reward", json=body, timeout=60)):
        assert reply.status_code == 422, reply.text
        assert reply.json()["errors"][0]["field"].startswith("body.labels.1")
    shallow = {**body, "labels": [{"user_id": "u-1"}, nested(50)]}  # deep but parsable: names no user
    assert client.post("/get_reward", json=shallow).status_code == 200


def feedback(user: str, feedback_id: str, chosen: str = CHOSEN, rejected: str = REJECTED, **more: str) -> dict:
    return {"user_id": user, "prompt": PROMPT, "chosen": chosen, "rejected": rejected, "feedback_id": feedback_id,
            **more}


def test_a_feedback_id_reused_with_another_label_is_a_409_and_changes_nothing(client: httpx.Client):
    user = f"u-{uuid.uuid4().hex[:8]}"
    first = client.post("/v1/feedback", json=feedback(user, "f-1"))
    assert first.status_code == 200 and first.json()["applied"], first.text
    same = client.post("/v1/feedback", json=feedback(user, "f-1"))  # a retry: the first result, not applied
    assert same.status_code == 200 and not same.json()["applied"]
    variants = (feedback(user, "f-1", chosen=REJECTED, rejected=CHOSEN), feedback(user, "f-1", context="terse"),
                feedback(user, "f-1", chosen=CHOSEN + " "))
    for body in variants:
        reply = client.post("/v1/feedback", json=body)
        assert reply.status_code == 409, reply.text
        assert "f-1" in reply.json()["detail"] and CHOSEN not in reply.text
    batch = {"items": [{k: v for k, v in feedback(user, "f-2").items() if k != "user_id"},
                       {k: v for k, v in feedback(user, "f-1", chosen="Two is prime.").items() if k != "user_id"}]}
    assert client.post(f"/v1/users/{user}/feedback:batch", json=batch).status_code == 409
    twice = {"items": [batch["items"][0], {**batch["items"][0], "chosen": "Two is prime."}]}  # f-2 twice, two labels
    assert client.post(f"/v1/users/{user}/feedback:batch", json=twice).status_code == 409
    state = client.get(f"/v1/users/{user}").json()
    assert state["n_feedback"] == 1 and state["version"] == 1  # nothing of the refused posts was applied
    # tenant b's f-1 is another id (another user namespace): applied
    other = client.post("/v1/feedback", json=feedback(user, "f-1", chosen=REJECTED, rejected=CHOSEN),
                        headers=bearer(KEY_B))
    assert other.status_code == 200 and other.json()["applied"]


def test_url_key_paths_never_redirect(secured: ServiceProcess):
    body = {"query": [PROMPT + CHOSEN]}
    with httpx.Client(base_url=secured.url, timeout=60, follow_redirects=False) as c:
        for path in (f"/k/{KEY_A_RO}/get_reward/", "/get_reward/", "/v1/score/", f"/k/{KEY_A_RO}//get_reward"):
            reply = c.post(path, json=body, headers={"Host": "attacker.example", **bearer(KEY_A)})
            assert reply.status_code == 404, (path, reply.status_code)
            assert "location" not in reply.headers and KEY_A_RO not in reply.text
        assert c.post(f"/k/{KEY_A_RO}/get_reward", json=body).status_code == 200


def test_chosen_equal_to_rejected_is_a_422_and_not_a_label(client: httpx.Client):
    user = f"u-{uuid.uuid4().hex[:8]}"
    reply = client.post("/v1/feedback", json=feedback(user, "same", chosen=CHOSEN, rejected=CHOSEN))
    assert reply.status_code == 422 and "same text" in json.dumps(reply.json()), reply.text
    items = [{"prompt": PROMPT, "chosen": CHOSEN, "rejected": REJECTED},
             {"prompt": PROMPT, "chosen": REJECTED, "rejected": REJECTED}]
    batch = client.post(f"/v1/users/{user}/feedback:batch", json={"items": items})
    assert batch.status_code == 422 and batch.json()["errors"][0]["field"].startswith("body.items.1")
    assert client.get(f"/v1/users/{user}").status_code == 404  # nothing was counted
