"""OpenRLHF /get_reward, /v1/model, health, /metrics, /docs, request ids."""

from __future__ import annotations

import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.slow

PROMPT = "Human: Tell me about Mars.\n\nAssistant:"
ANSWERS = [" Mars is the fourth planet from the Sun, a cold desert world.", " no"]


def test_get_reward_answers_openrlhf_shape(client: httpx.Client):
    reply = client.post(
        "/get_reward", json={"query": [PROMPT + a for a in ANSWERS], "prompts": [PROMPT] * 2, "labels": ["x", "y"]}
    )
    assert reply.status_code == 200
    body = reply.json()
    assert set(body) == {"rewards", "scores", "extra_logs"}
    assert len(body["rewards"]) == 2 and body["rewards"] == body["scores"]
    assert all(len(v) == 2 for v in body["extra_logs"].values())


def test_get_reward_with_prompts_equals_score_of_the_response(client: httpx.Client):
    rewards = client.post(
        "/get_reward", json={"query": [PROMPT + a for a in ANSWERS], "prompts": [PROMPT] * 2}
    ).json()["rewards"]
    scored = client.post("/v1/score", json={"prompt": PROMPT, "responses": [a.strip() for a in ANSWERS]}).json()
    assert rewards == pytest.approx(scored["scores"], abs=1e-4)


def test_get_reward_without_prompts_scores_whole_queries(client: httpx.Client):
    body = client.post("/get_reward", json={"query": [PROMPT + a for a in ANSWERS]}).json()
    assert len(body["rewards"]) == 2


def test_get_reward_personalises_with_user_id(client: httpx.Client):
    user = f"u-{uuid.uuid4().hex[:12]}"
    feedback = {"user_id": user, "prompt": PROMPT, "chosen": ANSWERS[1].strip(), "rejected": ANSWERS[0].strip()}
    for _ in range(3):
        client.post("/v1/feedback", json=feedback).raise_for_status()
    payload = {"query": [PROMPT + a for a in ANSWERS], "prompts": [PROMPT] * 2}
    prior = client.post("/get_reward", json=payload).json()
    mine = client.post(f"/get_reward?user_id={user}", json=payload).json()
    assert mine["extra_logs"]["personalized"] == [1.0, 1.0]
    assert mine["rewards"] != pytest.approx(prior["rewards"], abs=1e-6)


def test_get_reward_rejects_mismatched_prompts(client: httpx.Client):
    reply = client.post("/get_reward", json={"query": ["a", "b"], "prompts": ["a"]})
    assert reply.status_code == 422


def test_model_card_describes_backbone_and_heads(client: httpx.Client):
    card = client.get("/v1/model").json()
    assert card["backbone"]["id"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert card["num_heads"] == len(card["head_descriptions"]) == 4
    assert set(card["routing"]) >= {"tau", "eta", "mode"}
    assert card["limits"]["max_responses"] == 64


def test_health_live_and_ready(client: httpx.Client):
    assert client.get("/health/live").json()["status"] == "ok"
    ready = client.get("/health/ready")
    assert ready.status_code == 200 and ready.json()["checks"] == {"model": "ok", "redis": "ok"}


def test_metrics_parse_and_hold_the_named_metrics(client: httpx.Client):
    client.post("/v1/score", json={"prompt": PROMPT, "responses": ANSWERS})
    client.post("/v1/score", json={"user_id": "ops-metrics-user", "prompt": PROMPT, "responses": ANSWERS})
    text = client.get("/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    # the parser drops a counter's _total suffix
    expected = {
        "micro_requests", "micro_request_duration_seconds", "micro_queue_duration_seconds",
        "micro_inference_duration_seconds", "micro_batch_size", "micro_batch_tokens", "micro_queue_size",
        "micro_feedback", "micro_redis_duration_seconds", "micro_redis_errors", "micro_degraded",
        "micro_model_info", "micro_weight_entropy_nats", "micro_active_users",
    }
    assert expected <= set(families)
    assert families["micro_active_users"].samples[0].value >= 1  # the user just scored
    entropy_counts = {s.labels["source"]: s.value for s in families["micro_weight_entropy_nats"].samples
                      if s.name.endswith("_count")}
    assert entropy_counts["prior"] >= 1 and entropy_counts["prior"] + entropy_counts["user"] >= 2
    routes = {s.labels.get("route") for s in families["micro_requests"].samples}
    assert "/v1/score" in routes
    info = families["micro_model_info"].samples[0]
    assert info.value == 1 and info.labels["heads"] == "4"
    for family in families.values():  # bounded labels: no user ids, no texts
        for sample in family.samples:
            assert set(sample.labels) <= {"route", "status", "result", "op", "reason", "backbone", "heads",
                                          "version", "le", "source"}


def test_openapi_docs_are_served(client: httpx.Client):
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/score", "/v1/feedback", "/v1/users/{user_id}", "/v1/users/{user_id}/context", "/v1/model",
            "/get_reward", "/health/live", "/health/ready"} <= set(paths)


def test_every_response_carries_a_request_id(client: httpx.Client):
    for method, path, body in [("GET", "/health/live", None), ("GET", "/nowhere", None),
                               ("POST", "/v1/score", {"responses": []}), ("GET", "/metrics", None)]:
        reply = client.request(method, path, json=body)
        assert len(reply.headers["x-request-id"]) >= 16, path
    reply = client.get("/v1/users/nobody-here", headers={"X-Request-ID": "trace-123"})
    assert reply.headers["x-request-id"] == "trace-123"
    assert reply.json()["request_id"] == "trace-123"
