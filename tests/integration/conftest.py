"""Integration fixtures: the session's ``python -m service`` (evaluation/service_process.py) on a free
loopback port against the real Redis (database 15, a unique key prefix), and private
redis-servers for the tests that kill Redis."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import redis

from evaluation.service_process import ServiceProcess, free_port
from tests.helpers import TEST_REDIS_URL, api_keys_setting


class RedisServer:
    """A private redis-server on a free port (non-persistent unless ``extra_args`` say otherwise,
    e.g. AOF or the cluster options). ``stop`` kills it (SIGKILL, as a crash); ``restart``
    starts it again on the same port with the same options."""

    def __init__(self, port: int | None = None, extra_args: tuple[str, ...] = ()) -> None:
        self.exe = shutil.which("redis-server")
        if self.exe is None:
            pytest.skip("redis-server is not installed")
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.extra_args = extra_args
        self.proc = self._launch()

    def _launch(self) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "no", *self.extra_args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_timeout=0.5, socket_connect_timeout=0.5)
        for _ in range(100):
            try:
                if client.ping():
                    return proc
            except redis.ConnectionError:
                time.sleep(0.05)
        proc.kill()
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def restart(self) -> None:
        """Start again after ``stop`` (an AOF, if configured, is replayed; otherwise it is empty)."""
        self.proc = self._launch()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


def delete_prefix(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture(scope="module")
def redis_args() -> tuple[str, ...]:
    """More redis-server options for the module's private Redis; a module overrides this fixture."""
    return ()


@pytest.fixture(scope="module")
def redis_server(redis_args: tuple[str, ...]) -> Iterator[RedisServer]:
    """A private redis-server the module's tests may kill (``stop``) and bring back (``restart``)."""
    srv = RedisServer(extra_args=redis_args)
    yield srv
    srv.stop()


def service_on(redis_server: RedisServer, checkpoint: Path, log_path: Path, **settings: object) -> ServiceProcess:
    """A server on a private redis-server that it may lose: reconnect tries every 0.2 s,
    batches wait 2 ms, two torch threads; ``settings`` add to or override these."""
    defaults: dict[str, object] = {"redis_backoff_s": 0.2, "max_wait_ms": 2, "torch_threads": 2}
    return ServiceProcess(log_path, checkpoint=checkpoint, redis_url=redis_server.url, **{**defaults, **settings})


@contextmanager
def service_on_own_prefix(name: str, log_path: Path, checkpoint: Path, **settings: object) -> Iterator[ServiceProcess]:
    """A server on the test Redis under a fresh key prefix ``test-{name}-...`` (two torch threads),
    its keys deleted afterwards."""
    prefix = f"test-{name}-{uuid.uuid4().hex[:8]}"
    try:
        with ServiceProcess(log_path, checkpoint=checkpoint, redis_url=TEST_REDIS_URL, key_prefix=prefix,
                            **{"torch_threads": 2, **settings}) as proc:
            yield proc
    finally:
        delete_prefix(TEST_REDIS_URL, prefix)


@contextmanager
def keyed_service(name: str, tmp_path_factory: pytest.TempPathFactory, checkpoint: Path,
                  keys: list[tuple[str, str, str]], **settings: object) -> Iterator[ServiceProcess]:
    """A server with auth on and URL keys on, for the (tenant, scopes, key) entries, on a key prefix of its own."""
    log = tmp_path_factory.mktemp(name) / "service.log"
    with service_on_own_prefix(name, log, checkpoint, auth="on", api_keys=api_keys_setting(*keys), url_keys="true",
                               **settings) as proc:
        yield proc


@pytest.fixture(scope="session")
def server(tiny_checkpoint: Path, key_prefix: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of the session's service (tiny checkpoint, real backbone, real Redis db 15)."""
    service = ServiceProcess(
        tmp_path_factory.mktemp("logs") / "service.log",
        checkpoint=tiny_checkpoint,
        redis_url=TEST_REDIS_URL,
        key_prefix=key_prefix,
        max_wait_ms=5,
        torch_threads=2,
    )
    try:
        with service:
            yield service.url
    finally:
        delete_prefix(TEST_REDIS_URL, key_prefix)


@pytest.fixture()
def client(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=60.0) as c:
        yield c
