"""A second server with its own redis-server (killed and restarted here), a small queue and
small batches: Redis-down behaviour, 429 when the queue is full, dropped cancelled requests."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from evaluation.service_process import ServiceProcess
from tests.integration.conftest import RedisServer, service_on

pytestmark = pytest.mark.slow

PROMPT, CHOSEN, REJECTED = "Name a prime number.", "Seven is prime.", "Nine is prime."


@pytest.fixture(scope="module")
def fragile(tiny_checkpoint: Path, redis_server: RedisServer, tmp_path_factory) -> Iterator[ServiceProcess]:
    log = tmp_path_factory.mktemp("logs") / "fragile.log"
    with service_on(redis_server, tiny_checkpoint, log, max_queue=16, max_batch_size=4, warmup="false") as proc:
        yield proc


def feedback_body(user: str) -> dict:
    return {"user_id": user, "prompt": PROMPT, "chosen": CHOSEN, "rejected": REJECTED}


def score_body(user: str) -> dict:
    return {"user_id": user, "prompt": PROMPT, "responses": [CHOSEN, REJECTED]}


def test_redis_down_scores_with_prior_and_feedback_is_503_then_recovers(fragile: ServiceProcess,
                                                                       redis_server: RedisServer):
    user = f"u-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=fragile.url, timeout=30) as c:
        assert c.post("/v1/feedback", json=feedback_body(user)).status_code == 200
        assert c.post("/v1/score", json=score_body(user)).json()["weights_source"] == "user"
        prior = c.post("/v1/score", json={"prompt": PROMPT, "responses": [CHOSEN, REJECTED]}).json()

        redis_server.stop()
        start = time.monotonic()
        degraded = c.post("/v1/score", json=score_body(user))
        assert degraded.status_code == 200 and time.monotonic() - start < 2.0
        assert degraded.json()["weights_source"] == "prior_degraded"
        assert degraded.json()["weights"] == pytest.approx(prior["weights"], abs=1e-6)
        down = c.post("/v1/feedback", json=feedback_body(user))
        assert down.status_code == 503 and "retry-after" in down.headers
        assert down.headers["content-type"] == "application/problem+json"
        assert c.get(f"/v1/users/{user}").status_code == 503
        ready = c.get("/health/ready")  # the pod still serves scores: ready, with Redis reported down
        assert ready.status_code == 200 and ready.json()["checks"]["redis"] == "unavailable"
        assert "micro_redis_up 0.0" in c.get("/metrics").text
        assert c.get("/health/live").status_code == 200

        redis_server.restart()  # empty: the state was not persisted
        deadline = time.monotonic() + 10
        while c.post("/v1/feedback", json=feedback_body(user)).status_code != 200:
            assert time.monotonic() < deadline, "the service did not recover after Redis came back"
            time.sleep(0.1)
        assert c.post("/v1/score", json=score_body(user)).json()["weights_source"] == "user"
        assert c.get("/health/ready").json()["checks"]["redis"] == "ok"
        metrics = c.get("/metrics").text
        assert "micro_redis_up 1.0" in metrics
        assert 'micro_degraded_total{reason="redis_unavailable"}' in metrics
        assert 'micro_feedback_total{result="unavailable"}' in metrics


def test_full_queue_answers_429_with_retry_after(fragile: ServiceProcess):
    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=fragile.url, timeout=60) as c:
            bodies = [
                {"prompt": f"queue test {i}", "responses": [f"unique response {i}-{j} {uuid.uuid4().hex}" for j in range(8)]}
                for i in range(8)
            ]
            return await asyncio.gather(*(c.post("/v1/score", json=b) for b in bodies))

    replies = asyncio.run(run())
    codes = [r.status_code for r in replies]
    assert 200 in codes and 429 in codes, codes
    refused = next(r for r in replies if r.status_code == 429)
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["status"] == 429


def test_requests_whose_client_left_are_dropped(fragile: ServiceProcess):
    """Clients that time out before their texts are embedded free the queue: later requests
    are served and the server logs the cancellations."""

    async def run() -> None:
        async with httpx.AsyncClient(base_url=fragile.url, timeout=0.05) as impatient:
            bodies = [
                {"prompt": f"leave {i}", "responses": [f"gone {i}-{j} {uuid.uuid4().hex}" for j in range(4)]}
                for i in range(3)
            ]
            results = await asyncio.gather(*(impatient.post("/v1/score", json=b) for b in bodies),
                                           return_exceptions=True)
            assert any(isinstance(r, httpx.TimeoutException) for r in results)

    asyncio.run(run())
    time.sleep(0.5)
    with httpx.Client(base_url=fragile.url, timeout=30) as c:
        assert c.post("/v1/score", json={"prompt": PROMPT, "responses": [CHOSEN]}).status_code == 200
    assert "client disconnected" in fragile.log_path.read_text()
