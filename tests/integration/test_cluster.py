"""MICRO_REDIS_CLUSTER=true against a real 3-node Redis Cluster on loopback ports: score,
concurrent feedback (one user; users on every node), context, duplicates and erase all go
through redis-py's cluster client with no CROSSSLOT error and no 5xx."""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from redis.crc import key_slot

from model.routing import RoutingConfig
from evaluation.service_process import ServiceProcess, free_port
from service.state.user_store import KeySchema, UserStore
from tests.integration.conftest import RedisServer
from tests.service.store_calls import apply_one, state_of

pytestmark = pytest.mark.slow

PAIRS = [
    ("Name a prime number.", "Seven is prime.", "Nine is prime."),
    ("Give me a business tip.", "Track your cash flow weekly.", "Make money lol."),
    ("What is a hash table?", "A map from keys to slots via a hash function.", "A table of hash."),
]


def free_cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is valid and free too."""
    for _ in range(100):
        port = free_port()
        if port + 10000 > 65535:
            continue
        try:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", port + 10000))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port pair for a cluster node")


class RedisClusterNodes:
    """Three cluster-enabled redis-servers (no persistence), joined by ``redis-cli --cluster create``."""

    def __init__(self, directory: Path, size: int = 3) -> None:
        cli = shutil.which("redis-cli")
        if cli is None:
            pytest.skip("redis-cli is not installed (needed to create the cluster)")
        self.nodes: list[RedisServer] = []
        try:
            for _ in range(size):
                port = free_cluster_port()
                self.nodes.append(RedisServer(port, extra_args=(
                    "--cluster-enabled", "yes", "--cluster-config-file", str(directory / f"nodes-{port}.conf"),
                    "--dir", str(directory))))
            addresses = [f"127.0.0.1:{n.port}" for n in self.nodes]
            subprocess.run([cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
                           check=True, capture_output=True, timeout=60)
            self._wait_ok()
        except BaseException:
            self.stop()
            raise
        self.url = self.nodes[0].url  # any one node; the client discovers the rest

    def _wait_ok(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        clients = [redis.Redis(port=n.port, decode_responses=True) for n in self.nodes]
        while time.monotonic() < deadline:
            if all(c.cluster("info")["cluster_state"] == "ok" for c in clients):
                return
            time.sleep(0.1)
        raise RuntimeError("the Redis Cluster did not reach cluster_state:ok")

    def owner_port(self, slot: int) -> int:
        """The port of the node serving ``slot``."""
        for start, end, primary, *_ in redis.Redis(port=self.nodes[0].port).execute_command("CLUSTER SLOTS"):
            if start <= slot <= end:
                return int(primary[1])
        raise KeyError(slot)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterNodes]:
    nodes = RedisClusterNodes(tmp_path_factory.mktemp("cluster"))
    yield nodes
    nodes.stop()


@pytest.fixture(scope="module")
def clustered(tiny_checkpoint: Path, cluster: RedisClusterNodes, key_prefix: str,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    proc = ServiceProcess(
        tmp_path_factory.mktemp("logs") / "clustered.log",
        checkpoint=tiny_checkpoint,
        redis_url=cluster.url,
        redis_cluster="true",
        key_prefix=key_prefix,
        max_wait_ms=5,
        torch_threads=2,
    )
    try:
        proc.start().wait_ready()
        yield proc
    finally:
        proc.stop()


def feedback_body(user: str, i: int, **extra: object) -> dict:
    prompt, chosen, rejected = PAIRS[i % len(PAIRS)]
    return {"user_id": user, "prompt": prompt, "chosen": chosen, "rejected": rejected, **extra}


async def post_all(url: str, bodies: list[dict]) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=httpx.Limits(max_connections=64)) as c:
        return await asyncio.gather(*(c.post("/v1/feedback", json=b) for b in bodies))


def assert_all_ok(replies: list[httpx.Response]) -> None:
    bad = [(r.status_code, r.text) for r in replies if r.status_code != 200]
    assert not bad, bad[:3]


def users_on_every_node(cluster: RedisClusterNodes, per_node: int) -> dict[int, list[str]]:
    """User ids whose keys live on each node (the hash tag is the user id)."""
    run = uuid.uuid4().hex[:6]
    by_port: dict[int, list[str]] = {n.port: [] for n in cluster.nodes}
    i = 0
    while any(len(v) < per_node for v in by_port.values()):
        user = f"c-{run}-{i}"
        owned = by_port[cluster.owner_port(key_slot(user.encode()))]
        if len(owned) < per_node:
            owned.append(user)
        i += 1
    return by_port


def test_cluster_service_is_ready(clustered: ServiceProcess):
    reply = httpx.get(clustered.url + "/health/ready", timeout=10)
    assert reply.status_code == 200, reply.text
    assert reply.json()["checks"]["redis"] == "ok"


def test_cluster_thirty_concurrent_feedbacks_for_one_user_all_apply(clustered: ServiceProcess):
    user = f"c-{uuid.uuid4().hex[:10]}"
    prompt, chosen, rejected = PAIRS[0]
    with httpx.Client(base_url=clustered.url, timeout=60) as c:
        first = c.post("/v1/score", json={"user_id": user, "prompt": prompt, "responses": [chosen, rejected]})
        assert first.status_code == 200 and first.json()["weights_source"] == "prior"
        replies = asyncio.run(post_all(clustered.url, [feedback_body(user, i) for i in range(30)]))
        assert_all_ok(replies)
        assert sorted(r.json()["version"] for r in replies) == list(range(1, 31))  # each applied exactly once
        state = c.get(f"/v1/users/{user}").json()
        assert state["n_feedback"] == 30 and state["version"] == 30
        after = c.post("/v1/score", json={"user_id": user, "prompt": prompt, "responses": [chosen, rejected]})
        assert after.status_code == 200 and after.json()["weights_source"] == "user"
        assert after.json()["weights"] != pytest.approx(first.json()["weights"], abs=1e-6)


def test_cluster_concurrent_feedback_for_users_on_every_node_counts_exactly(clustered: ServiceProcess,
                                                                           cluster: RedisClusterNodes,
                                                                           key_prefix: str):
    by_port = users_on_every_node(cluster, per_node=2)
    users = [u for owned in by_port.values() for u in owned]
    per_user = 6
    bodies = [feedback_body(u, i) for i in range(per_user) for u in users]  # interleaved across users
    assert_all_ok(asyncio.run(post_all(clustered.url, bodies)))
    with httpx.Client(base_url=clustered.url, timeout=60) as c:
        for user in users:
            assert c.get(f"/v1/users/{user}").json()["n_feedback"] == per_user
    version = httpx.get(clustered.url + "/v1/model", timeout=10).json()["model_version"]
    for port, owned in by_port.items():  # every key of a user is on the node that owns its slot
        node = redis.Redis(port=port, decode_responses=True)
        for user in owned:
            keys = KeySchema(key_prefix, version).user(user)
            # state, ids, id times, kept history, its bytes, the versions written (no context was stated)
            assert node.exists(*keys) == 6
            assert node.hget(keys.state, "n") == str(per_user)


def test_cluster_context_duplicate_feedback_and_erase(clustered: ServiceProcess):
    user = f"c-{uuid.uuid4().hex[:10]}"
    with httpx.Client(base_url=clustered.url, timeout=60) as c:
        put = c.put(f"/v1/users/{user}/context", json={"context": "I like short answers."})
        assert put.status_code == 200 and put.json()["version"] == 1
        once = c.post("/v1/feedback", json=feedback_body(user, 0, feedback_id="fb-1"))
        twice = c.post("/v1/feedback", json=feedback_body(user, 0, feedback_id="fb-1"))
        assert once.status_code == twice.status_code == 200
        assert once.json()["applied"] is True and twice.json()["applied"] is False
        assert c.get(f"/v1/users/{user}").json()["n_feedback"] == 1
        assert c.delete(f"/v1/users/{user}").status_code == 204
        assert c.get(f"/v1/users/{user}").status_code == 404


def test_cluster_store_waits_for_a_connection_instead_of_failing(cluster: RedisClusterNodes):
    """The cluster client raises when a node's pool is exhausted; the store's permits make
    40 concurrent updates through 2 connections per node wait instead."""

    async def go() -> int:
        client = UserStore.connect(cluster.url, timeout_s=0.25, max_connections=2, cluster=True)
        store = UserStore(client, prefix=f"unit-{uuid.uuid4().hex[:8]}", model_version="v-test", num_heads=4,
                          user_ttl_s=600, feedback_id_ttl_s=60, backoff_s=0.2, max_in_flight=2)
        try:
            await asyncio.gather(*(apply_one(store, "bob", [0.0] * 4, [1.0, 0.5, 0.2, 0.1], RoutingConfig(),
                                                        feedback_id=None) for _ in range(40)))
            state = await state_of(store, "bob")
            return state.n_feedback
        finally:
            await store.close()

    assert asyncio.run(go()) == 40


def test_cluster_log_has_no_crossslot_or_redis_failure(clustered: ServiceProcess):
    log = clustered.log_path.read_text(errors="replace")
    assert "CROSSSLOT" not in log and "same slot" not in log
    assert not re.search(r"redis \w+ (failed|error)", log)
    metrics = httpx.get(clustered.url + "/metrics", timeout=10).text
    errors = [line for line in metrics.splitlines() if line.startswith("micro_redis_errors_total")]
    assert errors and all(line.endswith(" 0.0") for line in errors), errors
