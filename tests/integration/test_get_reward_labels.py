"""POST /get_reward against the real server: per-sample users and contexts from OpenRLHF labels
(objects or JSON strings; a plain string names no user and the query string's user applies), each
sample's reward equal to /v1/score's for its user, prompt, response and context; extra_logs per
query; empty lists (OpenRLHF 0.10's empty shards); bad labels named in the 422."""

from __future__ import annotations

import json
import math
import uuid

import httpx
import pytest

from tests.helpers import TINY_HEADS

PROMPTS = ["Human: Tell me about Mars.\n\nAssistant:", "Human: How do I save money?\n\nAssistant:"]
ANSWERS = [" Mars is the fourth planet from the Sun, a cold desert world.", " no", " Put 10% aside.", " Spend it."]
CONTEXT = "I want short, concrete answers."


def new_user(client: httpx.Client, teach: bool = True) -> str:
    user = f"u-{uuid.uuid4().hex[:12]}"
    for _ in range(3 if teach else 0):
        feedback = {"user_id": user, "prompt": PROMPTS[0], "chosen": ANSWERS[1].strip(), "rejected": ANSWERS[0].strip()}
        client.post("/v1/feedback", json=feedback).raise_for_status()
    return user


def score(client: httpx.Client, prompt: str, answer: str, user: str | None, context: str | None = None) -> dict:
    body = {"prompt": prompt, "responses": [answer], "return_head_rewards": True}
    body |= {"user_id": user} if user else {}
    body |= {"context": context} if context else {}
    reply = client.post("/v1/score", json=body)
    reply.raise_for_status()
    return reply.json()


def test_empty_lists_answer_200_with_empty_lists(client: httpx.Client):
    for body in ({"query": [], "prompts": [], "labels": []}, {"query": []}):
        reply = client.post("/get_reward", json=body)
        assert reply.status_code == 200, reply.text
        assert reply.json() == {"rewards": [], "scores": [], "extra_logs": {}}


def test_each_sample_gets_the_reward_of_the_user_and_context_in_its_label(client: httpx.Client):
    alice, bob, fallback = new_user(client), new_user(client), new_user(client)
    cases = [  # (prompt, answer, label as sent, user and context expected)
        (PROMPTS[0], ANSWERS[0], {"user_id": alice}, alice, None),
        (PROMPTS[0], ANSWERS[0], json.dumps({"user_id": bob, "context": CONTEXT}), bob, CONTEXT),
        (PROMPTS[1], ANSWERS[2], "42", fallback, None),  # a plain answer string: the query string's user
        (PROMPTS[1], ANSWERS[3], None, fallback, None),
        (PROMPTS[0], ANSWERS[1], {"context": CONTEXT}, fallback, CONTEXT),
        (PROMPTS[0], ANSWERS[0], json.dumps({"user_id": "nobody-" + alice}), "nobody-" + alice, None),
    ]
    body = {"query": [p + a for p, a, *_ in cases], "prompts": [p for p, *_ in cases],
            "labels": [label for _, _, label, _, _ in cases]}
    reply = client.post("/get_reward", json=body, params={"user_id": fallback})
    assert reply.status_code == 200, reply.text
    got = reply.json()
    expected = [score(client, p, a, user, context) for p, a, _, user, context in cases]
    assert got["rewards"] == pytest.approx([e["scores"][0] for e in expected], abs=1e-3)
    assert got["scores"] == got["rewards"]
    assert got["extra_logs"]["personalized"] == [float(e["weights_source"] == "user") for e in expected]
    prior = score(client, PROMPTS[0], ANSWERS[0], None)["scores"][0]
    assert got["rewards"][0] != pytest.approx(prior, abs=1e-4)  # alice's reward is not the prior's
    assert got["rewards"][5] == pytest.approx(prior, abs=1e-3)  # an unknown user: the prior


def test_extra_logs_carry_per_query_entropy_and_head_rewards(client: httpx.Client):
    user = new_user(client)
    body = {"query": [PROMPTS[0] + ANSWERS[0], PROMPTS[1] + ANSWERS[2]], "prompts": [PROMPTS[0], PROMPTS[1]],
            "labels": [{"user_id": user}, "x"]}
    logs = client.post("/get_reward", json=body).json()["extra_logs"]
    heads = [f"head_reward_{k}" for k in range(TINY_HEADS)]
    assert set(logs) == {"truncated", "personalized", "weight_entropy", *heads}
    assert all(len(v) == 2 for v in logs.values())
    for i, (prompt, answer, who) in enumerate([(PROMPTS[0], ANSWERS[0], user), (PROMPTS[1], ANSWERS[2], None)]):
        scored = score(client, prompt, answer, who)
        assert [logs[h][i] for h in heads] == pytest.approx(scored["head_rewards"][0], abs=1e-3)
        entropy = -sum(w * math.log(w) for w in scored["weights"] if w > 0)
        assert logs["weight_entropy"][i] == pytest.approx(entropy, abs=1e-3)
        assert 0.0 <= logs["weight_entropy"][i] <= math.log(TINY_HEADS) + 1e-6
    assert logs["personalized"] == [1.0, 0.0]


@pytest.mark.parametrize(
    ("labels", "field"),
    [
        ([None, {"user_id": "has/slash"}], "body.labels.1.user_id"),
        ([json.dumps({"user_id": "x" * 200}), None], "body.labels.0.user_id"),
        ([{"user_id": "ok", "context": 3}, None], "body.labels.0.context"),
        ([None], "body"),  # one label for two queries
    ],
)
def test_a_bad_label_is_422_naming_it(client: httpx.Client, labels: list, field: str):
    body = {"query": ["a b", "c d"], "labels": labels}
    reply = client.post("/get_reward", json=body)
    assert reply.status_code == 422, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in reply.json()["errors"]]


def test_a_labels_context_over_the_limit_is_413(client: httpx.Client):
    reply = client.post("/get_reward", json={"query": ["a b"], "labels": [{"user_id": "u", "context": "x" * 5000}]})
    assert reply.status_code == 413 and "context" in reply.json()["detail"]
