"""Faults under load, against a server with its own redis-server (AOF on, fsync always, as
docs/deploy.md asks for production): Redis killed mid-burst, then SIGTERM mid-load.
The SIGTERM test ends the module's server, so it comes last."""

from __future__ import annotations

import asyncio
import json
import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from evaluation.service_process import ServiceProcess
from tests.integration.conftest import RedisServer, service_on

pytestmark = pytest.mark.slow

PROMPT, CHOSEN, REJECTED = "Name a prime number.", "Seven is prime.", "Nine is prime."
N_BURST, KILL_AFTER, CONCURRENCY = 200, 60, 16
USERS = [f"fault-{k}-{uuid.uuid4().hex[:6]}" for k in range(4)]


@pytest.fixture(scope="module")
def redis_args(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, ...]:
    """The module's redis-server (conftest.py) persists every write, so a restart replays it."""
    data = tmp_path_factory.mktemp("redis-aof")
    return ("--appendonly", "yes", "--appendfsync", "always", "--dir", str(data))


@pytest.fixture(scope="module")
def service(tiny_checkpoint: Path, redis_server: RedisServer, tmp_path_factory) -> Iterator[ServiceProcess]:
    log = tmp_path_factory.mktemp("logs") / "faults.log"
    # redis_timeout_s: a slow fsync on a busy CI box is not an outage
    with service_on(redis_server, tiny_checkpoint, log, redis_timeout_s=1.0, shutdown_delay_s=1.0) as proc:
        yield proc


def request_of(i: int) -> tuple[str, str, dict]:
    user = USERS[i % len(USERS)]
    if i % 2:
        return "feedback", user, {"user_id": user, "prompt": PROMPT, "chosen": CHOSEN, "rejected": REJECTED,
                                  "feedback_id": f"burst-{i}"}
    return "score", user, {"user_id": user, "prompt": PROMPT, "responses": [CHOSEN, REJECTED]}


async def burst_killing_redis(base_url: str, redis_server: RedisServer) -> list[tuple[str, str, httpx.Response]]:
    sem, done = asyncio.Semaphore(CONCURRENCY), 0

    async def one(c: httpx.AsyncClient, i: int) -> tuple[str, str, httpx.Response]:
        nonlocal done
        kind, user, body = request_of(i)
        async with sem:
            r = await c.post(f"/v1/{kind}", json=body)
        done += 1
        if done == KILL_AFTER:
            redis_server.stop()  # SIGKILL, mid-burst
        return kind, user, r

    async with httpx.AsyncClient(base_url=base_url, timeout=30) as c:
        return await asyncio.gather(*(one(c, i) for i in range(N_BURST)))


def test_redis_killed_mid_burst_scores_flow_feedback_is_503_and_counts_match(
    service: ServiceProcess, redis_server: RedisServer
):
    results = asyncio.run(burst_killing_redis(service.url, redis_server))
    statuses = Counter((kind, r.status_code) for kind, _, r in results)
    assert {s for k, s in statuses if k == "score"} == {200}, statuses  # zero 5xx (or anything else) on score
    assert {s for k, s in statuses if k == "feedback"} <= {200, 503}, statuses
    assert statuses["feedback", 503] > 0 and statuses["feedback", 200] > 0, statuses
    sources = Counter(r.json()["weights_source"] for kind, _, r in results if kind == "score")
    assert sources["prior_degraded"] > 0, sources

    redis_server.restart()  # replays its AOF
    service.wait_ready(timeout_s=20)  # the model never left: ready throughout
    with httpx.Client(base_url=service.url, timeout=30) as c:
        # the documented client behaviour: a 503 is retried with the same feedback_id until answered. A
        # feedback applied just before Redis died, whose reply was lost, then answers 200 (applied once)
        for kind, user, r in results:
            if kind == "feedback" and r.status_code == 503:
                retry_until_200(c, "/v1/feedback", json.loads(r.request.content))
        for user in USERS:
            acknowledged = {f"burst-{i}" for i in range(1, N_BURST, 2) if request_of(i)[1] == user}
            got = c.get(f"/v1/users/{user}")
            n = got.json()["n_feedback"] if got.status_code == 200 else 0  # 404: a user without feedback
            assert n == len(acknowledged), (user, got.text)
        assert c.post("/v1/feedback", json=request_of(1)[2] | {"feedback_id": "after"}).status_code == 200


def retry_until_200(c: httpx.Client, path: str, body: dict, timeout_s: float = 20.0) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while (r := c.post(path, json=body)).status_code == 503:
        assert time.monotonic() < deadline, r.text
        time.sleep(0.2)
    assert r.status_code == 200, r.text
    return r


async def load_then_sigterm(service: ServiceProcess) -> tuple[list[httpx.Response], int]:
    async with httpx.AsyncClient(base_url=service.url, timeout=60) as c:
        bodies = [{"prompt": f"Question {i}?", "responses": [f"Answer {i}.{j} {uuid.uuid4().hex}" for j in range(6)]}
                  for i in range(24)]
        in_flight = [asyncio.ensure_future(c.post("/v1/score", json=b)) for b in bodies]
        await asyncio.sleep(0.5)  # all sent and accepted, most still queued for the backbone
        assert not all(t.done() for t in in_flight), "the load finished before the signal; make it heavier"
        service.proc.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.1)
        async with httpx.AsyncClient(base_url=service.url, timeout=10) as fresh:  # a new connection, like a probe
            ready = await fresh.get("/health/ready")
        return await asyncio.gather(*in_flight), ready.status_code


def test_sigterm_turns_readiness_false_then_drains_every_accepted_request(service: ServiceProcess):
    responses, ready_status = asyncio.run(load_then_sigterm(service))
    assert ready_status == 503  # readiness false first, while the listener still answers
    assert [r.status_code for r in responses] == [200] * len(responses)
    assert all(len(r.json()["scores"]) == 6 for r in responses)  # complete bodies
    # after the graceful shutdown uvicorn re-raises the captured SIGTERM: the exit status says so
    assert service.proc.wait(30) in (0, -signal.SIGTERM)
    log = service.log_tail(200)
    assert "Traceback" not in log
    with pytest.raises(httpx.TransportError):
        httpx.get(service.url + "/health/live", timeout=2)
