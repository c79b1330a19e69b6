"""The OpenAPI document tells the truth about errors: it validates, every route lists the error
statuses it really answers as problem+json (no FastAPI HTTPValidationError left), every example
fits the declared schema, and the live error bodies of the app (an engine on stand-ins: tiny
heads, hashing embedder, in-memory store) fit the schema the document declares for them."""

from __future__ import annotations

import json
from typing import Any

import httpx
import jsonschema
import pytest
from openapi_spec_validator import validate

from service.app import create_app
from service.api.auth import hash_key
from service.core.config import Settings
from service.core.errors import PROBLEM_TYPE
from tests.service.app_doubles import app_on_doubles, call
from tests.service.engine_doubles import InMemoryStore

KEY = "contract-test-key"
# (method, path) -> the error statuses the route must declare (acceptance of issue 17 and docs/api.md)
EXPECTED = {
    ("post", "/v1/score"): {401, 403, 413, 422, 429, 503},
    ("post", "/v1/feedback"): {401, 403, 409, 413, 422, 429, 503},
    ("post", "/v1/users/{user_id}/feedback:batch"): {401, 403, 409, 413, 422, 429, 503},
    ("get", "/v1/users/{user_id}"): {401, 403, 404, 422, 503},
    ("put", "/v1/users/{user_id}/context"): {401, 403, 413, 422, 503},
    ("delete", "/v1/users/{user_id}"): {401, 403, 422, 503},
    ("post", "/v1/users/{user_id}/next-query"): {401, 403, 413, 422, 429, 503},
    ("get", "/v1/model"): {401, 403, 503},
    ("post", "/get_reward"): {401, 403, 413, 422, 429, 503},
}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return create_app(Settings()).openapi()


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, ops in spec["paths"].items() for method, op in ops.items()]


def problem_validator(spec: dict[str, Any], media: dict[str, Any]) -> jsonschema.Draft202012Validator:
    """A validator for one response's schema, its $refs resolved in the document's components."""
    return jsonschema.Draft202012Validator({**media["schema"], "components": spec["components"]})


def test_the_document_is_a_valid_openapi_spec(spec: dict[str, Any]):
    validate(spec)


@pytest.mark.parametrize("route", sorted(EXPECTED), ids=lambda r: f"{r[0]} {r[1]}")
def test_each_route_declares_its_error_statuses_as_problem_json(spec: dict[str, Any], route: tuple[str, str]):
    method, path = route
    responses = spec["paths"][path][method]["responses"]
    declared = {int(s) for s in responses if int(s) >= 400}
    assert EXPECTED[route] <= declared, f"missing {EXPECTED[route] - declared}"
    for status in declared:
        content = responses[str(status)]["content"]
        assert list(content) == [PROBLEM_TYPE], (status, list(content))
        assert content[PROBLEM_TYPE]["schema"] == {"$ref": "#/components/schemas/Problem"}


def test_every_authed_route_declares_the_key_and_availability_errors(spec: dict[str, Any]):
    authed = [(m, p, op) for m, p, op in operations(spec) if p.startswith(("/v1/", "/get_reward", "/k/"))]
    assert len(authed) >= len(EXPECTED)
    for method, path, op in authed:
        assert {401, 403, 503, 504} <= {int(s) for s in op["responses"]}, f"{method} {path}"


def test_no_fastapi_default_validation_error_is_left(spec: dict[str, Any]):
    assert "HTTPValidationError" not in json.dumps(spec)
    for method, path, op in operations(spec):
        if op.get("parameters") or op.get("requestBody"):
            assert "422" in op["responses"], f"{method} {path} has inputs but no 422"


def test_retry_after_and_www_authenticate_headers_are_declared(spec: dict[str, Any]):
    score = spec["paths"]["/v1/score"]["post"]["responses"]
    assert "Retry-After" in score["429"]["headers"] and "Retry-After" in score["503"]["headers"]
    assert "WWW-Authenticate" in score["401"]["headers"]


def test_every_declared_error_example_fits_its_schema(spec: dict[str, Any]):
    checked = 0
    for method, path, op in operations(spec):
        for status, response in op["responses"].items():
            for media in response.get("content", {}).values():
                for name, example in media.get("examples", {}).items():
                    problem_validator(spec, media).validate(example["value"])
                    assert example["value"]["status"] == int(status), (method, path, name)
                    checked += 1
    assert checked >= sum(len(v) for v in EXPECTED.values())


# ---- live error bodies against the declared contract -------------------------------------------
def app_on_stand_ins(auth: bool = False) -> tuple[Any, InMemoryStore]:
    """The real app (routes, deps, errors, middleware) over an engine on stand-ins, no model load."""
    keys = {"auth": "on", "api_keys": f"tenant:read:{hash_key(KEY)}"} if auth else {}
    sizes = {"max_responses": 4, "max_text_chars": 200, "max_context_chars": 50}
    return app_on_doubles(Settings(max_body_bytes=4096, **sizes, **keys), "contract-1")


def assert_fits_contract(spec: dict[str, Any], method: str, template: str, reply: httpx.Response, status: int):
    """The reply has the status, is declared for the route, and its body fits the declared schema."""
    assert reply.status_code == status, reply.text
    declared = spec["paths"][template][method]["responses"]
    assert str(status) in declared, f"{method} {template} answered {status}, not declared"
    media_type = reply.headers["content-type"].split(";")[0]
    media = declared[str(status)]["content"][media_type]
    problem_validator(spec, media).validate(reply.json())
    assert reply.json()["request_id"] == reply.headers["x-request-id"]


SCORE = {"prompt": "Explain recursion", "responses": ["a short answer", "a longer answer"]}


@pytest.mark.parametrize(
    "method, path, template, kwargs, status",
    [
        ("post", "/v1/score", "/v1/score", {"json": {"prompt": "x"}}, 422),
        ("post", "/v1/score", "/v1/score", {"json": SCORE | {"responses": ["r"] * 5}}, 413),
        ("post", "/v1/score", "/v1/score", {"content": b"{" + b" " * 5000 + b"}",
                                            "headers": {"content-type": "application/json"}}, 413),
        ("get", "/v1/users/nobody", "/v1/users/{user_id}", {}, 404),
        ("get", "/v1/users/bad%20id!", "/v1/users/{user_id}", {}, 422),
        ("put", "/v1/users/alice/context", "/v1/users/{user_id}/context", {"json": {"context": "x" * 60}}, 413),
        ("post", "/get_reward", "/get_reward", {"json": {"query": "not a list"}}, 422),
    ],
)
def test_live_error_bodies_fit_the_declared_contract(spec, method, path, template, kwargs, status):
    app, _ = app_on_stand_ins()
    assert_fits_contract(spec, method, template, call(app, method.upper(), path, **kwargs), status)


def test_live_store_outage_fits_the_declared_503(spec: dict[str, Any]):
    app, store = app_on_stand_ins()
    store.down = True
    reply = call(app, "GET", "/v1/users/alice")
    assert_fits_contract(spec, "get", "/v1/users/{user_id}", reply, 503)
    assert "retry-after" in reply.headers


def test_live_model_loading_fits_the_declared_503(spec: dict[str, Any]):
    app, _ = app_on_stand_ins()
    app.state.runtime = None
    assert_fits_contract(spec, "post", "/v1/score", call(app, "POST", "/v1/score", json=SCORE), 503)


def test_live_auth_errors_fit_the_declared_401_and_403(spec: dict[str, Any]):
    app, _ = app_on_stand_ins(auth=True)
    missing = call(app, "POST", "/v1/score", json=SCORE)
    assert_fits_contract(spec, "post", "/v1/score", missing, 401)
    assert missing.headers["www-authenticate"].startswith("Bearer")
    read_only = call(app, "DELETE", "/v1/users/alice", headers={"Authorization": f"Bearer {KEY}"})
    assert_fits_contract(spec, "delete", "/v1/users/{user_id}", read_only, 403)
