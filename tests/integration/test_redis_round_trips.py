"""Redis round trips per request, counted on the wire: the service talks to a private
redis-server through a proxy that records each round trip (tests/integration/redis_proxy.py).
A score request with a user makes exactly one; a feedback at most two, even on a Redis that
has never seen the feedback script; a batch of labels two, one when every label was applied before."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from evaluation.service_process import ServiceProcess
from tests.integration.conftest import RedisServer
from tests.integration.redis_proxy import RoundTripProxy


@pytest.fixture(scope="module")
def proxied(tiny_checkpoint: Path, key_prefix: str,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, RoundTripProxy, RedisServer]]:
    server = RedisServer()
    proxy = RoundTripProxy(server.port)
    service = ServiceProcess(tmp_path_factory.mktemp("logs") / "round-trips.log", checkpoint=tiny_checkpoint,
                             redis_url=proxy.url, key_prefix=key_prefix, torch_threads=2)
    try:
        service.start().wait_ready()
        yield service.url, proxy, server
    finally:
        service.stop()
        proxy.close()
        server.stop()


def round_trips(proxied: tuple[str, RoundTripProxy, RedisServer], path: str, body: dict) -> list[list[str]]:
    url, proxy, _ = proxied
    proxy.reset()
    reply = httpx.post(url + path, json=body, timeout=60.0)
    assert reply.status_code == 200, reply.text
    return proxy.round_trips()


def pair(user: str, **extra: str) -> dict:
    return {"user_id": user, "prompt": "Explain tides.", "chosen": "The moon pulls the sea.", "rejected": "Magic.",
            **extra}


def test_score_with_a_user_makes_exactly_one_redis_round_trip(proxied):
    body = {"user_id": "rt-score", "prompt": "Explain tides.", "responses": ["The moon.", "Magic."]}
    trips = round_trips(proxied, "/v1/score", body)
    assert len(trips) == 1, trips


def test_score_without_a_user_makes_no_redis_round_trip(proxied):
    trips = round_trips(proxied, "/v1/score", {"prompt": "Explain tides.", "responses": ["The moon.", "Magic."]})
    assert trips == []


def test_feedback_on_a_redis_without_the_script_cached_makes_at_most_two_round_trips(proxied):
    _, _, server = proxied
    redis.Redis(port=server.port).script_flush()  # as after a Redis restart or failover
    trips = round_trips(proxied, "/v1/feedback", pair("rt-fresh", feedback_id="rt-f1"))
    assert 1 <= len(trips) <= 2, trips


def test_feedback_repeated_or_without_id_makes_at_most_two_round_trips(proxied):
    first = round_trips(proxied, "/v1/feedback", pair("rt-fb", feedback_id="rt-f2"))
    repeat = round_trips(proxied, "/v1/feedback", pair("rt-fb", feedback_id="rt-f2"))
    anonymous = round_trips(proxied, "/v1/feedback", pair("rt-fb"))
    assert all(1 <= len(trips) <= 2 for trips in (first, repeat, anonymous)), (first, repeat, anonymous)


def test_concurrent_scores_make_one_round_trip_each(proxied):
    url, proxy, _ = proxied

    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=url, timeout=60.0) as client:
            replies = await asyncio.gather(*(
                client.post("/v1/score", json={"user_id": f"rt-c{i}", "prompt": f"Question {i}?",
                                               "responses": ["Yes.", "No."]})
                for i in range(12)))
        return [r.status_code for r in replies]

    proxy.reset()
    assert asyncio.run(burst()) == [200] * 12
    trips = proxy.round_trips()
    assert len(trips) == 12 and all(len(names) == 1 for names in trips), trips


def test_a_feedback_batch_makes_two_round_trips_and_a_retried_one_makes_one(proxied):
    _, _, server = proxied
    redis.Redis(port=server.port).script_flush()
    items = [{k: v for k, v in pair("rt-batch", feedback_id=f"rt-b{i}").items() if k != "user_id"} for i in range(40)]
    first = round_trips(proxied, "/v1/users/rt-batch/feedback:batch", {"items": items})
    retried = round_trips(proxied, "/v1/users/rt-batch/feedback:batch", {"items": items})
    assert len(first) == 2 and len(retried) == 1, (first, retried)
