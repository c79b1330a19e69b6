"""Hostile input on the real app over stand-ins (tiny heads, hashing embedder, in-memory store):
invalid Unicode in any text field is a 422 naming the field, booleans are strict, a blank context
is no context, one limit bounds a request's characters on every route, the API key is checked
before any byte of the body is read, the embedding cache is scoped by tenant, errors never show
the store's internal keys and logs never show a secret."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from model.paths import REPO_ROOT
from service.api.auth import hash_key
from service.core.config import Settings
from service.inference.embedder import Embedder
from service.core.logs import JsonFormatter, redact, tenant_var
from service.inference.runtime import StartupError, _store
from service.api.schemas import FeedbackRequest, RewardRequest, ScoreRequest
from tests.service.app_doubles import app_on_doubles, call
from tests.service.engine_doubles import InMemoryStore

KEY_RW, KEY_RO = "input-safety-rw", "input-safety-ro"
BAD = "ok \ud800 ok"  # a lone surrogate: valid JSON ("\ud800"), not encodable as UTF-8
SCORE = {"prompt": "Explain recursion", "responses": ["a short answer", "a longer answer"]}
LABEL = {"prompt": "Explain recursion", "chosen": "a short answer", "rejected": "a longer answer"}


def stand_in_app(auth: bool = False, url_keys: bool = False, **sizes: Any) -> tuple[Any, InMemoryStore]:
    keys = {"auth": "on", "api_keys": f"acme:read+write:{hash_key(KEY_RW)},acme:read:{hash_key(KEY_RO)}"}
    return app_on_doubles(Settings(**(keys if auth else {}), url_keys=url_keys, **sizes), "safety-1")


def raw_json(body: Any) -> dict[str, Any]:
    """httpx keyword arguments sending ``body`` as JSON with lone surrogates as \\u escapes."""
    return {"content": json.dumps(body).encode(), "headers": {"content-type": "application/json"}}


# ---- invalid Unicode -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "path, body, field",
    [
        ("/v1/score", SCORE | {"prompt": BAD}, "body.prompt"),
        ("/v1/score", SCORE | {"responses": ["fine", BAD]}, "body.responses.1"),
        ("/v1/score", SCORE | {"context": BAD}, "body.context"),
        ("/v1/score", {"messages": [{"role": "user", "content": BAD}], "responses": ["a"]}, "body.messages.0.content"),
        ("/v1/score", {"messages": [{"role": BAD, "content": "hi"}], "responses": ["a"]}, "body.messages.0.role"),
        ("/v1/score:batch", {"items": [SCORE, SCORE | {"responses": [BAD]}]}, "body.items.1.responses.0"),
        ("/v1/feedback", LABEL | {"user_id": "u1", "chosen": BAD}, "body.chosen"),
        ("/v1/feedback", LABEL | {"user_id": "u1", "rejected": BAD}, "body.rejected"),
        ("/v1/users/u1/feedback:batch", {"items": [LABEL | {"context": BAD}]}, "body.items.0.context"),
        ("/v1/users/u1/next-query", SCORE | {"responses": ["a", BAD]}, "body.responses.1"),
        ("/get_reward", {"query": ["fine", BAD]}, "body.query.1"),
        ("/get_reward", {"query": ["q"], "prompts": [BAD]}, "body.prompts.0"),
        ("/get_reward", {"query": ["q"], "labels": [{"user_id": "u1", "context": BAD}]}, "body.labels.0.context"),
    ],
)
def test_lone_surrogate_in_any_text_field_is_422_naming_the_field(path: str, body: dict, field: str):
    reply = call(stand_in_app()[0], "POST", path, **raw_json(body))
    assert reply.status_code == 422, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in reply.json()["errors"]]


def test_lone_surrogate_in_put_context_and_in_a_field_name_is_422():
    app, _ = stand_in_app()
    assert call(app, "PUT", "/v1/users/u1/context", **raw_json({"context": BAD})).status_code == 422
    reply = call(app, "POST", "/v1/score", **raw_json(SCORE | {BAD: 1}))  # an unknown field named by a surrogate
    assert reply.status_code == 422, reply.text
    reply.json()  # the problem body itself is valid UTF-8 JSON


def test_valid_non_ascii_text_is_scored():
    reply = call(stand_in_app()[0], "POST", "/v1/score", json=SCORE | {"responses": ["日本語 😀", "ok"]})
    assert reply.status_code == 200, reply.text


# ---- strict booleans, blank context -----------------------------------------------------------
@pytest.mark.parametrize("value", ["yes", "true", 1, "1"])
def test_return_head_rewards_must_be_a_json_boolean(value: Any):
    reply = call(stand_in_app()[0], "POST", "/v1/score", json=SCORE | {"return_head_rewards": value})
    assert reply.status_code == 422
    assert reply.json()["errors"][0]["field"] == "body.return_head_rewards"


def test_return_head_rewards_true_returns_head_rewards():
    reply = call(stand_in_app()[0], "POST", "/v1/score", json=SCORE | {"return_head_rewards": True})
    assert reply.status_code == 200 and len(reply.json()["head_rewards"]) == 2


@pytest.mark.parametrize("blank", ["", "   ", "\n\t "])
def test_blank_context_is_no_context_everywhere(blank: str):
    assert ScoreRequest.model_validate(SCORE | {"context": blank}).context is None
    assert FeedbackRequest.model_validate(LABEL | {"user_id": "u", "context": blank}).context is None
    labels = [{"user_id": "u", "context": blank}, json.dumps({"user_id": "u", "context": blank})]
    assert [lb.context for lb in RewardRequest.model_validate({"query": ["a", "b"], "labels": labels}).labels] == [
        None, None]
    app, _ = stand_in_app()
    call(app, "PUT", "/v1/users/u1/context", json={"context": "I like short answers"})
    assert call(app, "PUT", "/v1/users/u1/context", json={"context": blank}).json()["context"] is None


def test_blank_context_scores_as_no_context():
    app, _ = stand_in_app()
    plain = call(app, "POST", "/v1/score", json=SCORE).json()
    blank = call(app, "POST", "/v1/score", json=SCORE | {"context": "  "}).json()
    assert blank["scores"] == plain["scores"] and blank["weights"] == plain["weights"]


# ---- one limit on a request's characters, every route ---------------------------------------------
@pytest.mark.parametrize(
    "method, path, body",
    [
        ("POST", "/v1/score", SCORE | {"responses": ["x" * 150] * 4}),
        ("POST", "/v1/score", {"messages": [{"role": "user", "content": "x" * 150}] * 4, "responses": ["a"]}),
        ("POST", "/v1/score:batch", {"items": [SCORE | {"prompt": "x" * 150}] * 4}),
        ("POST", "/v1/feedback", LABEL | {"user_id": "u1", "chosen": "x" * 150, "rejected": "y" * 150,
                                          "prompt": "z" * 150}),
        ("POST", "/v1/users/u1/feedback:batch", {"items": [LABEL | {"prompt": "x" * 150}] * 4}),
        ("POST", "/v1/users/u1/next-query", SCORE | {"responses": ["x" * 150] * 4}),
        ("POST", "/get_reward", {"query": ["x" * 150] * 4}),
        ("POST", "/get_reward", {"query": ["q" * 150], "prompts": ["x" * 150], "labels": [{"context": "y" * 50}]}),
        ("PUT", "/v1/users/u1/context", {"context": "x" * 260}),
    ],
)
def test_request_over_the_total_characters_is_413_on_every_route(method: str, path: str, body: dict):
    app, _ = stand_in_app(max_total_chars=250, max_text_chars=200, max_context_chars=50)
    reply = call(app, method, path, json=body)
    assert reply.status_code == 413, reply.text
    assert "characters in all" in reply.json()["detail"]


def test_request_within_the_total_characters_is_served():
    app, _ = stand_in_app(max_total_chars=250, max_text_chars=200)
    assert call(app, "POST", "/v1/score", json=SCORE | {"responses": ["x" * 100, "y" * 100]}).status_code == 200


# ---- authentication before the body --------------------------------------------------------------
def post_counting_body_reads(app: Any, path: str, headers: list[tuple[bytes, bytes]]) -> tuple[int, int]:
    """Send a 1 MB POST through the ASGI app directly -> (status, how many times it read the body)."""
    reads, sent = [0], {}

    async def receive() -> dict:
        reads[0] += 1
        if reads[0] > 1:  # the body was sent; the client then waits for the answer
            await asyncio.Event().wait()
        return {"type": "http.request", "body": b"x" * 1_000_000, "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            sent["status"] = message["status"]

    scope = {"type": "http", "method": "POST", "path": path, "raw_path": path.encode(), "root_path": "",
             "query_string": b"", "scheme": "http", "server": ("safety", 80), "client": ("127.0.0.1", 1),
             "http_version": "1.1", "asgi": {"version": "3.0"}, "app": app,
             "headers": [(b"content-type", b"application/json"), (b"content-length", b"1000000"), *headers]}
    asyncio.run(app(scope, receive, send))
    return sent["status"], reads[0]


@pytest.mark.parametrize(
    "path, headers, status",
    [
        ("/v1/score", [], 401),
        ("/v1/score", [(b"authorization", b"Bearer not-a-key")], 401),
        ("/v1/feedback", [(b"authorization", b"Basic abc")], 401),
        ("/get_reward", [], 401),
        ("/k/not-a-key/get_reward", [], 401),
        ("/k/input-safety-rw/get_reward", [], 403),  # a write key in a URL
    ],
)
def test_unauthenticated_request_is_refused_before_its_body_is_read(path: str, headers: list, status: int):
    app, _ = stand_in_app(auth=True, url_keys=True)
    assert post_counting_body_reads(app, path, headers) == (status, 0)


def test_authenticated_request_reads_its_body():
    app, _ = stand_in_app(auth=True)
    status, reads = post_counting_body_reads(app, "/v1/score", [(b"authorization", f"Bearer {KEY_RW}".encode())])
    assert status == 422 and reads == 2  # the body was read (and is not JSON); the second read awaits a disconnect


def test_open_routes_need_no_key_with_auth_on():
    app, _ = stand_in_app(auth=True)
    assert call(app, "GET", "/health/live").status_code == 200
    assert call(app, "GET", "/metrics").status_code == 200
    assert call(app, "GET", "/openapi.json").status_code == 200
    assert call(app, "GET", "/").status_code == 200


def test_over_size_body_of_a_known_key_is_413_before_reading():
    app, _ = stand_in_app(auth=True, max_body_bytes=4096)
    status, reads = post_counting_body_reads(app, "/v1/score", [(b"authorization", f"Bearer {KEY_RW}".encode())])
    assert (status, reads) == (413, 0)


# ---- tenant-scoped embedding cache ---------------------------------------------------------------
def test_embedding_cache_is_not_shared_between_tenants():
    forwards: list[int] = []

    class CountingBatcher:
        async def embed(self, features: list, lengths: list[int], tenant: str | None = None) -> torch.Tensor:
            forwards.append(len(features))
            return torch.ones(len(features), 4)

    encoder = SimpleNamespace(router_max_length=8, max_length=16,
                              tokenizer=lambda texts, **_: {"input_ids": [[1] * len(t) for t in texts]})
    embedder = Embedder(encoder, CountingBatcher(), cache_size=100)  # type: ignore[arg-type]

    async def as_tenant(tenant: str | None) -> None:
        tenant_var.set(tenant)
        await embedder.embed(["router text"], ["pair text"])

    async def go() -> None:
        for tenant in ("acme", "acme", "globex", None):
            await asyncio.create_task(as_tenant(tenant))  # a task: its own copy of the context, as a request

    asyncio.run(go())
    assert forwards == [2, 2, 2]  # acme's second call hit acme's cache; globex and no-tenant missed


# ---- no internal keys in errors, no secrets in logs -------------------------------------------------
def test_unknown_user_404_names_the_callers_id_not_the_internal_key():
    app, _ = stand_in_app(auth=True)
    reply = call(app, "GET", "/v1/users/ghost", headers={"Authorization": f"Bearer {KEY_RW}"})
    assert reply.status_code == 404
    assert "ghost" in reply.json()["detail"] and "acme" not in reply.text


@pytest.mark.parametrize(
    "secret_text, secret",
    [
        ("redis://default:hunter2@redis:6379/0", "hunter2"),
        ("rediss://:hunter2@redis:6380/0", "hunter2"),
        ("redis://redis:6379/0?password=hunter2&ssl=true", "hunter2"),
        ("redis://hunter2@redis:6379/0", "hunter2"),
        ("Authorization: Bearer hunter2", "hunter2"),
        ("POST /k/hunter2/get_reward", "hunter2"),
    ],
)
def test_redact_removes_every_secret_shape(secret_text: str, secret: str):
    assert secret not in redact(secret_text) and "<redacted>" in redact(secret_text)


def test_log_lines_and_tracebacks_are_redacted():
    try:
        raise ConnectionError("cannot reach redis://:hunter2@db:6379/0")
    except ConnectionError:
        record = logging.LogRecord("service", logging.ERROR, __file__, 1, "connect %s failed", ("redis://u:pw1@h/0",),
                                   sys.exc_info())
    line = JsonFormatter().format(record)
    assert "hunter2" not in line and "pw1" not in line
    assert json.loads(line)["msg"] == "connect redis://u:<redacted>@h/0 failed"


def test_start_up_errors_never_show_a_redis_password():
    with pytest.raises(StartupError) as caught:
        _store(Settings(redis_url="redis://:hunter2@db:not-a-port/0"), SimpleNamespace(version="v", num_heads=2))
    assert "hunter2" not in str(caught.value) and "<redacted>" in str(caught.value)
    env = {"MICRO_REDIS_URL": "redis://:hunter2@db:6379/0", "MICRO_PORT": "redis://:hunter2@db", "PATH": "/usr/bin"}
    done = subprocess.run([sys.executable, "-m", "service"], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 2 and "MICRO_PORT" in done.stderr
    assert "hunter2" not in done.stdout + done.stderr
