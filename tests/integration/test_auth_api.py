"""API keys and tenants against a real server with MICRO_AUTH=on: 401 / 403 as problem+json,
open health/metrics/docs, and tenant isolation checked route by route (tenant B can neither
read, change nor erase tenant A's user of the same id)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from model.paths import REPO_ROOT
from evaluation.service_process import ServiceProcess
from service.state.user_store import KeySchema
from tests.helpers import TEST_REDIS_URL, bearer, key_sha256
from tests.integration.conftest import delete_prefix

KEY_A, KEY_A_RO, KEY_B = (f"key-{name}-{uuid.uuid4().hex}" for name in ("a", "a-ro", "b"))
PROMPT, CHOSEN, REJECTED = "Name a prime number.", "Seven is prime.", "Nine is prime."


@pytest.fixture(scope="module")
def secured(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """Tenant a: a read+write key (from the env) and a read-only key (from a file); tenant b: read+write."""
    tmp = tmp_path_factory.mktemp("auth")
    keys_file = tmp / "keys.txt"
    keys_file.write_text(f"# read-only key of tenant a\na:read:{key_sha256(KEY_A_RO)}\n")
    prefix = f"test-auth-{uuid.uuid4().hex[:8]}"
    proc = ServiceProcess(
        tmp / "auth.log",
        checkpoint=tiny_checkpoint,
        redis_url=TEST_REDIS_URL,
        key_prefix=prefix,
        torch_threads=2,
        warmup="false",
        auth="on",
        api_keys=json.dumps([
            {"tenant": "a", "scopes": ["read", "write"], "sha256": key_sha256(KEY_A)},
            {"tenant": "b", "scopes": ["read", "write"], "sha256": key_sha256(KEY_B)},
        ]),
        api_keys_file=keys_file,
    )
    proc.prefix = prefix  # type: ignore[attr-defined]
    try:
        proc.start().wait_ready()
        yield proc
    finally:
        proc.stop()
        delete_prefix(TEST_REDIS_URL, prefix)


def score_body(user: str) -> dict:
    return {"user_id": user, "prompt": PROMPT, "responses": [CHOSEN, REJECTED]}


def feedback_body(user: str) -> dict:
    return {"user_id": user, "prompt": PROMPT, "chosen": CHOSEN, "rejected": REJECTED}


def batch_body() -> dict:
    return {"items": [{"prompt": PROMPT, "chosen": CHOSEN, "rejected": REJECTED}]}


def protected_requests(user: str) -> list[tuple[str, str, dict, str]]:
    """(method, path, kwargs, scope) for every route that needs a key."""
    return [
        ("POST", "/v1/score", {"json": score_body(user)}, "read"),
        ("POST", "/get_reward", {"json": {"query": [PROMPT + CHOSEN]}, "params": {"user_id": user}}, "read"),
        ("GET", f"/v1/users/{user}", {}, "read"),
        ("POST", f"/v1/users/{user}/next-query", {"json": {"prompt": PROMPT, "responses": [CHOSEN, REJECTED]}},
         "read"),
        ("GET", "/v1/model", {}, "read"),
        ("POST", "/v1/feedback", {"json": feedback_body(user)}, "write"),
        ("POST", f"/v1/users/{user}/feedback:batch", {"json": batch_body()}, "write"),
        ("PUT", f"/v1/users/{user}/context", {"json": {"context": "short answers"}}, "write"),
        ("DELETE", f"/v1/users/{user}", {}, "write"),
    ]


def test_every_api_route_without_or_with_a_wrong_key_is_401(secured: ServiceProcess):
    with httpx.Client(base_url=secured.url, timeout=30) as c:
        for method, path, kwargs, _ in protected_requests("u-401"):
            for headers in ({}, bearer("not-a-key"), {"Authorization": f"Basic {KEY_A}"}):
                r = c.request(method, path, headers=headers, **kwargs)
                assert r.status_code == 401, (method, path, r.text)
                assert r.headers["content-type"] == "application/problem+json"
                assert r.headers["www-authenticate"].startswith("Bearer")
                assert r.json()["status"] == 401 and r.json()["request_id"]


def test_read_only_key_reads_but_writes_are_403(secured: ServiceProcess):
    user = f"u-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=secured.url, timeout=30) as c:
        assert c.post("/v1/feedback", json=feedback_body(user), headers=bearer(KEY_A)).status_code == 200
        for method, path, kwargs, scope in protected_requests(user):
            r = c.request(method, path, headers=bearer(KEY_A_RO), **kwargs)
            if scope == "write":
                assert r.status_code == 403, (method, path, r.text)
                assert r.headers["content-type"] == "application/problem+json"
                assert "write" in r.json()["detail"]
            else:
                assert r.status_code == 200, (method, path, r.text)
        # the read-only key of tenant a sees tenant a's user, unchanged by the refused writes
        user_view = c.get(f"/v1/users/{user}", headers=bearer(KEY_A_RO)).json()
        assert user_view["n_feedback"] == 1 and user_view["context"] is None


def test_health_metrics_docs_and_playground_stay_open(secured: ServiceProcess):
    with httpx.Client(base_url=secured.url, timeout=30) as c:
        for path in ("/health/live", "/health/ready", "/metrics", "/openapi.json", "/docs", "/"):
            assert c.get(path).status_code == 200, path
        spec = c.get("/openapi.json").json()
        assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_tenants_cannot_read_change_or_erase_each_others_users(secured: ServiceProcess):
    user = f"shared-{uuid.uuid4().hex[:8]}"  # the same id in both tenants
    a, b = bearer(KEY_A), bearer(KEY_B)
    with httpx.Client(base_url=secured.url, timeout=30) as c:
        for _ in range(3):
            assert c.post("/v1/feedback", json=feedback_body(user), headers=a).status_code == 200
        assert c.put(f"/v1/users/{user}/context", json={"context": "tenant a's words"}, headers=a).status_code == 200
        a_before = c.get(f"/v1/users/{user}", headers=a).json()
        assert a_before["n_feedback"] == 3

        # reads: b sees no state, b's scores use the prior
        assert c.get(f"/v1/users/{user}", headers=b).status_code == 404
        assert c.post("/v1/score", json=score_body(user), headers=a).json()["weights_source"] == "user"
        assert c.post("/v1/score", json=score_body(user), headers=b).json()["weights_source"] == "prior"
        reward = c.post("/get_reward", json={"query": [PROMPT + CHOSEN]}, params={"user_id": user}, headers=b)
        assert reward.json()["extra_logs"]["personalized"] == [0.0]
        nq = {"prompt": PROMPT, "responses": [CHOSEN, REJECTED, "Two is prime."]}
        assert c.post(f"/v1/users/{user}/next-query", json=nq, headers=b).json()["weights_source"] == "prior"
        assert c.post(f"/v1/users/{user}/next-query", json=nq, headers=a).json()["weights_source"] == "user"

        # writes and erase by b land in b's own namespace
        fb = c.post("/v1/feedback", json=feedback_body(user), headers=b).json()
        assert fb["n_feedback"] == 1
        batch = c.post(f"/v1/users/{user}/feedback:batch", json=batch_body(), headers=b).json()
        assert batch["n_feedback"] == 2 and batch["results"][0]["user_id"] == user
        assert c.put(f"/v1/users/{user}/context", json={"context": "tenant b's words"}, headers=b).status_code == 200
        assert c.delete(f"/v1/users/{user}", headers=b).status_code == 204
        assert c.get(f"/v1/users/{user}", headers=b).status_code == 404
        assert c.get(f"/v1/users/{user}", headers=a).json() == a_before

    # in Redis, each tenant's user is its own hash-tagged key
    keys = {k.decode() for k in redis.Redis.from_url(TEST_REDIS_URL).scan_iter(match=f"{secured.prefix}:*")}
    schema = KeySchema(secured.prefix, a_before["model_version"])
    assert schema.user(f"a/{user}").state in keys
    assert not keys & set(schema.user(f"b/{user}"))


def test_keys_are_never_logged(secured: ServiceProcess):
    with httpx.Client(base_url=secured.url, timeout=30) as c:
        c.get("/v1/model", headers=bearer(KEY_B))
        c.get("/v1/model", headers=bearer(KEY_A + "x"))
    log = secured.log_path.read_text(errors="replace")
    for key in (KEY_A, KEY_A_RO, KEY_B):
        assert key not in log


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"MICRO_AUTH": "on"}, "MICRO_API_KEYS"),
        ({"MICRO_AUTH": "on", "MICRO_API_KEYS": "a:read:plain-key-not-a-hash"}, "SHA-256"),
        ({"MICRO_AUTH": "on", "MICRO_API_KEYS": f"a:admin:{'0' * 64}"}, "scopes"),
    ],
)
def test_auth_on_without_valid_keys_fails_fast_saying_what_to_set(settings: dict, message: str):
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("MICRO_")} | settings
    done = subprocess.run([sys.executable, "-m", "service"], cwd=REPO_ROOT, env=env, check=False, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert message in done.stderr and "plain-key-not-a-hash" not in done.stderr
