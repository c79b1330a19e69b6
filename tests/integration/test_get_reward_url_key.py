"""POST /k/{api_key}/get_reward (MICRO_URL_KEYS=true): the key in the path for clients that cannot
send a header. Read-only keys only (a write key: 403 saying why), unknown keys 401, the tenant's
namespace applies to label users, off by default (404), and the key never reaches the log."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from model.paths import REPO_ROOT
from evaluation.service_process import ServiceProcess
from tests.integration.conftest import keyed_service

KEY_A_RW, KEY_A_RO, KEY_B_RO = (f"key-{name}-{uuid.uuid4().hex}" for name in ("a-rw", "a-ro", "b-ro"))
PROMPT = "Human: How should I learn to cook?\n\nAssistant:"
ANSWERS = [" Start with three simple recipes.", " Cooking is an ancient art practised by all."]


@pytest.fixture(scope="module")
def url_keys(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """Auth on, URL keys on; tenant a: a read+write and a read-only key; tenant b: a read-only key."""
    keys = [("a", "read+write", KEY_A_RW), ("a", "read", KEY_A_RO), ("b", "read", KEY_B_RO)]
    with keyed_service("urlkey", tmp_path_factory, tiny_checkpoint, keys, max_wait_ms=5) as proc:
        yield proc


def reward_body(user: str) -> dict:
    return {"query": [PROMPT + a for a in ANSWERS], "prompts": [PROMPT] * 2, "labels": [{"user_id": user}, "42"]}


def test_a_read_only_key_in_the_url_gets_its_tenants_users_rewards(url_keys: ServiceProcess):
    user = f"u-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=url_keys.url, timeout=60) as c:
        writer = {"Authorization": f"Bearer {KEY_A_RW}"}
        for _ in range(3):
            feedback = {"user_id": user, "prompt": PROMPT, "chosen": ANSWERS[1].strip(), "rejected": ANSWERS[0].strip()}
            c.post("/v1/feedback", json=feedback, headers=writer).raise_for_status()
        mine = c.post(f"/k/{KEY_A_RO}/get_reward", json=reward_body(user))
        assert mine.status_code == 200, mine.text
        by_header = c.post("/get_reward", json=reward_body(user), headers=writer).json()
        assert mine.json()["rewards"] == pytest.approx(by_header["rewards"], abs=1e-6)
        assert mine.json()["extra_logs"]["personalized"] == [1.0, 0.0]
        scored = c.post("/v1/score", json={"user_id": user, "prompt": PROMPT, "responses": [ANSWERS[0]]},
                        headers=writer).json()
        assert mine.json()["rewards"][0] == pytest.approx(scored["scores"][0], abs=1e-3)
        # tenant b's key: the same user id is another (unknown) user there
        other = c.post(f"/k/{KEY_B_RO}/get_reward", json=reward_body(user)).json()
        assert other["extra_logs"]["personalized"] == [0.0, 0.0]
        assert other["rewards"][0] != pytest.approx(mine.json()["rewards"][0], abs=1e-4)


def test_an_unknown_key_in_the_url_is_401(url_keys: ServiceProcess):
    reply = httpx.post(f"{url_keys.url}/k/not-{KEY_A_RO}/get_reward", json=reward_body("u-1"), timeout=60)
    assert reply.status_code == 401 and reply.headers["content-type"] == "application/problem+json"


def test_a_key_with_the_write_scope_in_the_url_is_403_saying_why(url_keys: ServiceProcess):
    reply = httpx.post(f"{url_keys.url}/k/{KEY_A_RW}/get_reward", json=reward_body("u-1"), timeout=60)
    assert reply.status_code == 403
    detail = reply.json()["detail"]
    assert "write" in detail and "URL" in detail and "read-only" in detail and KEY_A_RW not in detail


def test_only_get_reward_takes_a_key_in_the_url(url_keys: ServiceProcess):
    score = {"prompt": PROMPT, "responses": [ANSWERS[0]]}
    assert httpx.post(f"{url_keys.url}/k/{KEY_A_RO}/v1/score", json=score, timeout=60).status_code == 404


def test_url_keys_are_off_by_default(server: str):
    assert httpx.post(f"{server}/k/anything/get_reward", json={"query": []}, timeout=60).status_code == 404


def test_keys_in_urls_never_reach_the_service_log(url_keys: ServiceProcess):
    with httpx.Client(base_url=url_keys.url, timeout=60) as c:
        for key in (KEY_A_RO, KEY_A_RW, "wrong-" + KEY_B_RO):
            c.post(f"/k/{key}/get_reward", json={"query": []})
    log = url_keys.log_path.read_text(errors="replace")
    assert "/k/<redacted>/get_reward" in log  # the requests were logged, with the key redacted
    for key in (KEY_A_RW, KEY_A_RO, KEY_B_RO):
        assert key not in log


def test_url_keys_without_auth_fail_fast_saying_what_to_set():
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICRO_")} | {"MICRO_URL_KEYS": "true"}
    done = subprocess.run([sys.executable, "-m", "service"], cwd=REPO_ROOT, env=env, check=False, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "MICRO_AUTH=on" in done.stderr
