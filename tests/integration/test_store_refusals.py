"""What a client can trust when Redis misbehaves, against a server on its own redis-server behind a
proxy that can hold Redis's replies back:

- a feedback whose write Redis applied but whose reply never came (Redis stalled between the read
  and the write) is a 503 that gives the labels' feedback_ids back, also for labels sent without
  one: retried with them, each label is applied once (the probe: applied twice);
- when Redis refuses writes (maxmemory), neither the 503 bodies nor the log (above DEBUG) hold the
  user's words or a Redis key (the probe: the context, with its key, at ERROR and in the body)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from evaluation.service_process import ServiceProcess
from tests.integration.conftest import RedisServer
from tests.integration.redis_proxy import RoundTripProxy

PROMPT, CHOSEN, REJECTED = "Name a prime number.", "Seven is prime.", "Nine is prime."
PREFIX = "refusals"
FEEDBACK_SCRIPT = b"'ZADD', KEYS[3]"  # only the feedback script's text holds this


@pytest.fixture(scope="module")
def stalling(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[tuple[ServiceProcess, RoundTripProxy, RedisServer]]:
    server = RedisServer()
    proxy = RoundTripProxy(server.port)
    service = ServiceProcess(tmp_path_factory.mktemp("logs") / "refusals.log", checkpoint=tiny_checkpoint,
                             redis_url=proxy.url, key_prefix=PREFIX, torch_threads=2, max_wait_ms=2,
                             redis_timeout_s=0.3, redis_backoff_s=0.2, warmup="false")
    try:
        service.start().wait_ready()
        yield service, proxy, server
    finally:
        service.stop()
        proxy.close()
        server.stop()


def label(**more: str) -> dict:
    return {"prompt": PROMPT, "chosen": CHOSEN, "rejected": REJECTED, **more}


def until_answered(c: httpx.Client, path: str, body: dict, timeout_s: float = 20.0) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while (reply := c.post(path, json=body)).status_code == 503:
        assert time.monotonic() < deadline, reply.text
        time.sleep(0.1)
    return reply


def n_feedback(c: httpx.Client, user: str) -> int:
    return c.get(f"/v1/users/{user}").json()["n_feedback"]


def test_a_503_on_feedback_gives_ids_back_and_a_retry_with_them_applies_once(stalling):
    service, proxy, _ = stalling
    user = f"u-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=service.url, timeout=60) as c:
        assert c.post("/v1/feedback", json={"user_id": user, **label()}).status_code == 200  # warm, n = 1
        proxy.stall(FEEDBACK_SCRIPT, 1.0)  # Redis applies the script; its reply comes after the client's timeout
        try:
            lost = c.post("/v1/feedback", json={"user_id": user, **label()})
            time.sleep(0.5)  # past the back-off that the lost reply started: the batch reaches Redis too
            batch_lost = c.post(f"/v1/users/{user}/feedback:batch",
                                json={"items": [label(), label(feedback_id="mine-1")]})
        finally:
            proxy.stall(None)
        assert lost.status_code == 503 and batch_lost.status_code == 503, (lost.text, batch_lost.text)
        (given,) = lost.json()["feedback_ids"]
        batch_ids = batch_lost.json()["feedback_ids"]
        assert len(batch_ids) == 2 and batch_ids[1] == "mine-1" and batch_ids[0].startswith("auto-")
        assert "retry" in lost.json()["detail"] and lost.headers["retry-after"]

        retried = until_answered(c, "/v1/feedback", {"user_id": user, **label(feedback_id=given)})
        assert retried.status_code == 200 and not retried.json()["applied"]  # it had been applied, once
        items = [label(feedback_id=fid) for fid in batch_ids]
        again = until_answered(c, f"/v1/users/{user}/feedback:batch", {"items": items})
        assert again.status_code == 200 and again.json()["applied"] == 0, again.text
        assert n_feedback(c, user) == 4  # 1 + 1 + 2: every label once


@pytest.fixture()
def full_redis(stalling) -> Iterator[redis.Redis]:
    _, _, server = stalling
    direct = redis.Redis(port=server.port)
    direct.config_set("maxmemory", 1)  # every write: OOM (noeviction)
    try:
        yield direct
    finally:
        direct.config_set("maxmemory", 0)
        direct.close()


def test_refused_writes_keep_users_words_and_keys_out_of_bodies_and_logs(stalling, full_redis: redis.Redis):
    service, _, _ = stalling
    user = f"carol-{uuid.uuid4().hex[:8]}"
    words = f"I am pregnant and my doctor is {uuid.uuid4().hex}"
    with httpx.Client(base_url=service.url, timeout=60) as c:
        time.sleep(0.3)  # past any back-off of the previous test
        replies = [c.put(f"/v1/users/{user}/context", json={"context": words}),
                   c.post("/v1/feedback", json={"user_id": user, **label(context=words, chosen=words)})]
    for reply in replies:
        assert reply.status_code == 503, reply.text
        assert "OutOfMemoryError" in reply.json()["detail"]  # what Redis said, by the client's class for it
        assert words not in reply.text and PREFIX not in reply.text and user not in reply.text
    log = service.log_path.read_text(errors="replace")
    assert "redis set_context failed: OutOfMemoryError" in log and "redis feedback failed: OutOfMemoryError" in log
    assert words not in log and f"{PREFIX}:" not in log
