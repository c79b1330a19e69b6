"""Retries: 429/503 honour Retry-After, exponential backoff without it, transport errors are
retried, other errors are not. A local httpx MockTransport stands in for the server here only,
to script the replies and time the waits."""

from __future__ import annotations

import asyncio
import time
from email.utils import formatdate

import httpx
import pytest
from micro_client import AsyncMicroClient, MicroClient, MicroError
from micro_client.retry import retry_after_s

SCORE = {"scores": [1.0], "ranking": [0], "weights": [1.0], "weights_source": "prior", "truncated": [False],
         "model_version": "v"}
PROBLEM = {"type": "about:blank", "title": "Server busy: inference queue full", "status": 429,
           "detail": "try again", "request_id": "r-1"}


def scripted(replies: list[httpx.Response | Exception]) -> tuple[list[float], object]:
    """A handler answering ``replies`` in turn; the list it returns records when each request came."""
    times: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        times.append(time.monotonic())
        reply = replies[len(times) - 1]
        if isinstance(reply, Exception):
            raise reply
        return reply

    return times, handler


def busy(status: int = 429, retry_after: str | None = None) -> httpx.Response:
    headers = {"content-type": "application/problem+json"}
    if retry_after is not None:
        headers["retry-after"] = retry_after
    return httpx.Response(status, json={**PROBLEM, "status": status}, headers=headers)


def test_429_waits_the_seconds_retry_after_names() -> None:
    times, handler = scripted([busy(429, "1"), httpx.Response(200, json=SCORE)])
    with MicroClient("http://micro.test", transport=httpx.MockTransport(handler)) as client:
        assert client.score("p", ["r"]).scores == [1.0]
    assert len(times) == 2 and 1.0 <= times[1] - times[0] < 1.5


def test_503_without_retry_after_backs_off_exponentially() -> None:
    times, handler = scripted([busy(503), busy(503), httpx.Response(200, json=SCORE)])
    with MicroClient("http://micro.test", transport=httpx.MockTransport(handler), backoff_s=0.2) as client:
        client.score("p", ["r"])
    first, second = times[1] - times[0], times[2] - times[1]
    assert 0.1 <= first <= 0.3 and 0.2 <= second <= 0.5  # half to all of 0.2 s, then of 0.4 s


def test_transport_errors_are_retried() -> None:
    times, handler = scripted([httpx.ConnectError("refused"), httpx.Response(200, json=SCORE)])
    with MicroClient("http://micro.test", transport=httpx.MockTransport(handler), backoff_s=0.01) as client:
        assert client.score("p", ["r"]).model_version == "v"
    assert len(times) == 2


def test_other_errors_are_raised_at_once_with_the_problem() -> None:
    times, handler = scripted([httpx.Response(422, json={**PROBLEM, "status": 422, "title": "Invalid request"})])
    with MicroClient("http://micro.test", transport=httpx.MockTransport(handler)) as client, \
            pytest.raises(MicroError) as err:
        client.score("p", [])
    assert len(times) == 1 and (err.value.status, err.value.title) == (422, "Invalid request")


def test_after_the_last_retry_the_last_problem_is_raised() -> None:
    times, handler = scripted([busy(503, "0")] * 3)
    with MicroClient("http://micro.test", transport=httpx.MockTransport(handler), max_retries=2) as client, \
            pytest.raises(MicroError) as err:
        client.score("p", ["r"])
    assert len(times) == 3 and err.value.status == 503 and err.value.request_id == "r-1"


def test_unreachable_server_raises_without_a_status() -> None:
    _, handler = scripted([httpx.ConnectError("refused")] * 2)
    with MicroClient("http://micro.test", transport=httpx.MockTransport(handler), max_retries=1,
                     backoff_s=0.01) as client, pytest.raises(MicroError) as err:
        client.score("p", ["r"])
    assert err.value.status is None and isinstance(err.value.__cause__, httpx.ConnectError)


def test_async_client_honours_retry_after() -> None:
    times, handler = scripted([busy(429, "1"), httpx.Response(200, json=SCORE)])

    async def go() -> None:
        async with AsyncMicroClient("http://micro.test", transport=httpx.MockTransport(handler)) as client:
            await client.score("p", ["r"])

    asyncio.run(go())
    assert 1.0 <= times[1] - times[0] < 1.5


def test_retry_after_reads_seconds_and_http_dates() -> None:
    request = httpx.Request("GET", "http://micro.test")
    assert retry_after_s(httpx.Response(429, headers={"retry-after": "3"}, request=request)) == 3.0
    dated = retry_after_s(httpx.Response(429, headers={"retry-after": formatdate(time.time() + 5, usegmt=True)}))
    assert dated is not None and 3.0 <= dated <= 5.0
    assert retry_after_s(httpx.Response(429, headers={"retry-after": "soon"})) is None
