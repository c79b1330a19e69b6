"""A real ``python -m service`` process on a free loopback port, one per test session, against
the real Redis (database 15, a unique key prefix); helpers to start private redis-servers."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from model.paths import REPO_ROOT
from tests.helpers import TEST_REDIS_URL

START_TIMEOUT_S = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServiceProcess:
    """``python -m service`` with MICRO_* settings; stderr (JSON logs) goes to a file."""

    def __init__(self, log_path: Path, **settings: object) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        env = {k: v for k, v in os.environ.items() if not k.startswith("MICRO_")}
        env.update({f"MICRO_{k.upper()}": str(v) for k, v in settings.items()})
        env.update(MICRO_HOST="127.0.0.1", MICRO_PORT=str(self.port), PYTHONUNBUFFERED="1")
        self._log = open(log_path, "wb")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "service"], cwd=REPO_ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def wait_ready(self, timeout_s: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"service exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(self.url + "/health/live", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"service not up after {timeout_s} s:\n{self.log_tail()}")

    def log_tail(self, n: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


class RedisServer:
    """A private, non-persistent redis-server on a free port (for tests that kill Redis);
    ``extra_args`` are more redis-server options (e.g. the cluster ones)."""

    def __init__(self, port: int | None = None, extra_args: tuple[str, ...] = ()) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            pytest.skip("redis-server is not installed")
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "no", *extra_args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_timeout=0.5, socket_connect_timeout=0.5)
        for _ in range(100):
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


def delete_prefix(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture(scope="session")
def server(tiny_checkpoint: Path, key_prefix: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of the session's service (tiny checkpoint, real backbone, real Redis db 15)."""
    proc = ServiceProcess(
        tmp_path_factory.mktemp("logs") / "service.log",
        checkpoint=tiny_checkpoint,
        redis_url=TEST_REDIS_URL,
        key_prefix=key_prefix,
        max_wait_ms=5,
        torch_threads=2,
    )
    try:
        proc.wait_ready()
        yield proc.url
    finally:
        proc.stop()
        delete_prefix(TEST_REDIS_URL, key_prefix)


@pytest.fixture()
def client(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=60.0) as c:
        yield c
