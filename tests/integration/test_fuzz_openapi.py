"""Hostile input: schemathesis generates requests from the service's own OpenAPI (valid and
invalid bodies, odd unicode, huge numbers, missing fields) and finds no server error (5xx); a
hand-made corpus sent to every operation with a body adds what generators rarely produce: lone
surrogates and invalid UTF-8 in every text, non-finite numbers (NaN / Infinity literals), huge
numbers, JSON nested 10,000 deep and bodies at and over the size limits."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.core.config import Settings

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 12  # per operation: bounded so the run stays well under a minute on 2 CPU cores
LIMITS = Settings()  # the session's server runs with the default limits
PROMPT, CHOSEN, REJECTED = "Name a prime number.", "Seven is prime.", "Nine is prime."
# a valid body per operation (path template): the corpus mutates each of its leaves
VALID: dict[str, Any] = {
    "/v1/score": {"user_id": "fuzz-1", "prompt": PROMPT, "responses": [CHOSEN, REJECTED], "context": "brief",
                  "return_head_rewards": True},
    "/v1/score:batch": {"items": [{"messages": [{"role": "user", "content": PROMPT}], "responses": [CHOSEN]}]},
    "/v1/feedback": {"user_id": "fuzz-1", "prompt": PROMPT, "chosen": CHOSEN, "rejected": REJECTED,
                     "feedback_id": "fuzz-f1"},
    "/v1/users/{user_id}/feedback:batch": {"items": [{"prompt": PROMPT, "chosen": CHOSEN, "rejected": REJECTED}]},
    "/v1/users/{user_id}/context": {"context": "I like short answers."},
    "/v1/users/{user_id}/next-query": {"prompt": PROMPT, "responses": [CHOSEN, REJECTED, "Eleven."]},
    "/get_reward": {"query": [PROMPT + " " + CHOSEN], "prompts": [PROMPT],
                    "labels": [{"user_id": "fuzz-1", "context": "brief"}]},
}
HOSTILE_LEAVES = ['"\\ud800"', '"a\\udfffb"', '"\\udc00\\ud800"', '"\\u0000"', "NaN", "Infinity", "-Infinity",
                  "1e999", "1" * 5000, "[]", "{}", "null", "true"]
DEPTH = 10_000


def test_schemathesis_finds_no_server_error(server: str, tmp_path: Path):
    exe = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("schemathesis is not installed (pip install -e '.[test]')")
    done = subprocess.run(
        [exe, "run", f"{server}/openapi.json", "--checks", "not_a_server_error", "--max-examples", str(MAX_EXAMPLES),
         "--phases", "examples,coverage,fuzzing", "--seed", "1", "--generation-database", "none",
         "--request-timeout", "30", "--no-color"],
        check=False, capture_output=True, text=True, timeout=240, cwd=tmp_path,  # its cache dir goes there
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]


# ---- the corpus ---------------------------------------------------------------------------------
def leaves(value: Any, path: tuple = ()) -> Iterator[tuple]:
    """The paths of every leaf (string, number, boolean) of a JSON value."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from leaves(item, (*path, i))
    else:
        yield path


def with_raw_leaf(body: Any, path: tuple, raw: str) -> bytes:
    """``body`` as JSON with the leaf at ``path`` replaced by the raw JSON text ``raw``."""
    marker = "\u2063MARK\u2063"
    copy = json.loads(json.dumps(body))
    node = copy
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = marker
    return json.dumps(copy).replace(json.dumps(marker), raw).encode()


def corpus(body: Any) -> Iterator[tuple[str, bytes]]:
    """(name, raw body) of every hostile variant of a valid body."""
    for path in leaves(body):
        for raw in HOSTILE_LEAVES:
            yield f"{'.'.join(map(str, path))}={raw[:12]}", with_raw_leaf(body, path, raw)
        yield f"{'.'.join(map(str, path))}=invalid-utf8", with_raw_leaf(body, path, '"\xff\xfe\xc3"').replace(
            "\xff\xfe\xc3".encode(), b"\xff\xfe\xc3")
    yield "deep-arrays", b"[" * DEPTH + b"]" * DEPTH
    yield "deep-objects", b'{"a":' * DEPTH + b"1" + b"}" * DEPTH
    first = next(iter(body))
    yield "deep-field", json.dumps({**body, first: "@"}).replace('"@"', "[" * DEPTH + "]" * DEPTH).encode()
    yield "nan-body", b"NaN"
    yield "empty", b""
    yield "not-json", b"\x00\x01\x02"
    pad = LIMITS.max_body_bytes - len(json.dumps(body)) - 16
    yield "max-body", json.dumps(body).encode()[:-1] + b', "pad": "' + b"x" * pad + b'"}'
    yield "over-body", b" " * (LIMITS.max_body_bytes + 1)
    text_path = next(p for p in leaves(body) if isinstance(leaf(body, p), str) and p[-1] not in ("user_id",
                                                                                               "feedback_id", "role"))
    yield "max-text", with_raw_leaf(body, text_path, json.dumps("é" * LIMITS.max_text_chars))
    yield "over-total", with_raw_leaf(body, text_path, json.dumps("x" * (LIMITS.max_total_chars + 1)))


def leaf(body: Any, path: tuple) -> Any:
    for key in path:
        body = body[key]
    return body


def operations(spec: dict) -> Iterator[tuple[str, str, str]]:
    """(method, URL path, template) of every operation that takes a JSON body."""
    for template, ops in spec["paths"].items():
        for method, op in ops.items():
            if "requestBody" in op:
                yield method.upper(), template.replace("{user_id}", "fuzz-1"), template


def test_hostile_corpus_on_every_operation_gives_no_server_error(server: str):
    with httpx.Client(base_url=server, timeout=60) as client:
        ops = list(operations(client.get("/openapi.json").json()))
        assert {template for _, _, template in ops} <= set(VALID), "give the new operation a valid body in VALID"
        failures, sent = [], 0
        for method, path, template in ops:
            for name, raw in corpus(VALID[template]):
                reply = client.request(method, path, content=raw, headers={"content-type": "application/json"})
                sent += 1
                if reply.status_code >= 500:
                    failures.append(f"{method} {path} [{name}]: {reply.status_code} {reply.text[:200]}")
    assert sent > 100
    assert not failures, "\n".join(failures[:20])
