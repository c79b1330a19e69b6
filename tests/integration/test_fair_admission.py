"""Admission under abuse, two tenants (auth on), a small admission budget so that two of tenant A's
capped requests fill it as two maximal ones fill the default:

- slow bodies: sockets that declare a large body and send none hold no budget (bodies are charged
  as they arrive); tenant B's small scores are answered meanwhile, and the sockets get 408 at the
  body deadline, their connection closed (the probe: every POST of every tenant 429 for 60 s);
- one tenant's giant work: two of A's largest requests sent together cannot take every slot (a
  tenant's admitted requests declare at most half the budget); B's small scores are answered
  beside them (the probe: 282 of 282 refused)."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from evaluation.service_process import ServiceProcess
from tests.helpers import api_keys_setting
from tests.integration.conftest import service_on_own_prefix

KEY_A, KEY_A_RO, KEY_B = (f"key-{name}-{uuid.uuid4().hex}" for name in ("a", "a-ro", "b"))
BODY_TIMEOUT_S, BUDGET, CAP = 2.0, 4096, 2048
PROMPT = "Which answer is kinder?"


@pytest.fixture(scope="module")
def shared(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    keys = api_keys_setting(("a", "read+write", KEY_A), ("a", "read", KEY_A_RO), ("b", "read+write", KEY_B))
    log = tmp_path_factory.mktemp("fair") / "service.log"
    with service_on_own_prefix("fair", log, tiny_checkpoint, max_wait_ms=2, auth="on", api_keys=keys,
                               body_timeout_s=BODY_TIMEOUT_S, admission_budget_tokens=BUDGET,
                               admission_cap_tokens=CAP) as proc:
        yield proc


async def small_scores(url: str, seconds: float) -> Counter:
    """Tenant B's small scores, one after another, for ``seconds``: their statuses."""
    statuses: Counter = Counter()
    body = {"prompt": PROMPT, "responses": ["Be gentle.", "Whatever."]}
    async with httpx.AsyncClient(base_url=url, timeout=60, headers={"Authorization": f"Bearer {KEY_B}"}) as c:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline or not statuses:
            statuses[(await c.post("/v1/score", json=body)).status_code] += 1
    return statuses


def slow_body_socket(service: ServiceProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", service.port), timeout=BODY_TIMEOUT_S + 10)
    sock.sendall(b"POST /get_reward HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Authorization: Bearer " + KEY_A_RO.encode() + b"\r\nContent-Length: 200000\r\n\r\n{\"query\": [")
    return sock


def test_slow_bodies_hold_no_budget_and_get_408_at_the_body_deadline(shared: ServiceProcess):
    socks = [slow_body_socket(shared) for _ in range(2)]
    try:
        start = time.monotonic()
        statuses = asyncio.run(small_scores(shared.url, BODY_TIMEOUT_S * 0.8))
        replies = []
        for sock in socks:
            chunks = []
            while chunk := sock.recv(65536):  # until the server closes
                chunks.append(chunk)
            replies.append(b"".join(chunks))
        closed_s = time.monotonic() - start
    finally:
        for sock in socks:
            sock.close()
    assert statuses[200] >= 0.9 * sum(statuses.values()), statuses
    assert any(r.startswith(b"HTTP/1.1 408 ") for r in replies), replies  # the second may be refused (A's share)
    assert all(r.startswith((b"HTTP/1.1 408 ", b"HTTP/1.1 429 ")) for r in replies), replies
    assert closed_s < BODY_TIMEOUT_S + 5, closed_s


async def giant_and_small(url: str) -> tuple[list[int], Counter]:
    queries = [f"{PROMPT} Answer {i}: " + " ".join(f"w{j}" for j in range(40)) for i in range(96)]
    giant = {"query": queries}  # ~15 KB: over the cap (8 KB), estimated at CAP tokens
    async with httpx.AsyncClient(base_url=url, timeout=120, headers={"Authorization": f"Bearer {KEY_A}"}) as a:
        giants = [asyncio.ensure_future(a.post("/get_reward", json=giant)) for _ in range(2)]
        await asyncio.sleep(0.3)  # both admitted or refused, at work
        statuses = await small_scores(url, 2.0)
        return [r.status_code for r in await asyncio.gather(*giants)], statuses


def test_one_tenants_giant_requests_leave_room_for_another_tenants_small_ones(shared: ServiceProcess):
    giants, statuses = asyncio.run(giant_and_small(shared.url))
    assert statuses[200] >= 0.9 * sum(statuses.values()), statuses
    assert sorted(giants) == [200, 429], giants  # the second exceeded A's share: refused at once, no work wasted
