"""Request heads bounded by the server (service/api/head_guard.py), no key needed to probe them: a 1 MB
header is a 431 (the probe: a 16 MB header answered 200), connections sending endless headers are
closed at the limit, so RSS stays flat (the probe: 667 -> 1168 MB), and half-sent heads are closed
after MICRO_HEADER_TIMEOUT_S (the probe: 3000 still open after 90 s). Ordinary requests, kept-alive
connections and large bodies are untouched."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from evaluation.service_process import ServiceProcess
from tests.integration.conftest import service_on_own_prefix

HEADER_TIMEOUT_S = 1.5
HEAD = b"POST /v1/score HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"


@pytest.fixture(scope="module")
def guarded(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    log = tmp_path_factory.mktemp("heads") / "service.log"
    with service_on_own_prefix("heads", log, tiny_checkpoint, warmup="false", header_timeout_s=HEADER_TIMEOUT_S,
                               auth="on", api_keys="a:read:" + "0" * 64) as proc:
        yield proc


def connect(service: ServiceProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", service.port), timeout=10)


def send_until_closed(sock: socket.socket, data: bytes, total: int) -> int:
    """Sends ``data`` repeatedly up to ``total`` bytes; -> bytes sent before the server closed."""
    sent = 0
    try:
        while sent < total:
            sock.sendall(data)
            sent += len(data)
    except OSError:  # reset / broken pipe: the server closed
        pass
    return sent


def reply_of(sock: socket.socket) -> bytes:
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except OSError:
        pass
    return b"".join(chunks)


def test_a_one_megabyte_header_is_431_and_the_connection_closed(guarded: ServiceProcess):
    with connect(guarded) as sock:
        send_until_closed(sock, HEAD + b"X-Big: " + b"a" * (1 << 20) + b"\r\n\r\n", 1)
        reply = reply_of(sock)
    assert reply.startswith(b"HTTP/1.1 431 "), reply[:200]
    big = {"X-Big": "a" * 60_000}  # under the limit, with a body in the same packets: served
    body = {"prompt": "Hi?", "responses": ["Hello."] * 200}
    assert httpx.post(guarded.url + "/v1/score", json=body, headers=big, timeout=60).status_code == 401
    assert httpx.get(guarded.url + "/health/live", headers=big, timeout=60).status_code == 200


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_endless_headers_are_cut_at_the_limit_and_rss_stays_flat(guarded: ServiceProcess):
    before = rss_mb(guarded.proc.pid)
    socks = [connect(guarded) for _ in range(5)]
    try:
        for sock in socks:
            sock.sendall(HEAD + b"X-Flood: ")
        sent = [send_until_closed(sock, b"b" * 65536, 100 << 20) for sock in socks]  # 100 MB each, unfinished
        grown = rss_mb(guarded.proc.pid) - before
    finally:
        for sock in socks:
            sock.close()
    # each was closed long before its 100 MB went out (what did go out sat in the kernel's socket buffers)
    assert all(s < 64 << 20 for s in sent), sent
    assert grown < 100, f"RSS grew {grown:.0f} MB"
    print(f"header flood: 5 x 100 MB offered, {sum(sent) >> 20} MB sent, RSS {before:.0f} MB + {grown:.1f} MB")


def test_half_sent_heads_are_closed_after_the_header_timeout(guarded: ServiceProcess):
    start = time.monotonic()  # before the connects: each server-side deadline starts after this
    socks = [connect(guarded) for _ in range(200)]
    kept_alive = connect(guarded)
    try:
        for sock in socks:
            sock.sendall(HEAD + b"X-Slow: 1")  # and never the rest
        kept_alive.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\nGET /health/live HTTP/1.1\r\nHost")
        closed_after = []
        for sock in [*socks, kept_alive]:
            sock.settimeout(HEADER_TIMEOUT_S + 10)
            reply = reply_of(sock)  # returns when the server closes
            closed_after.append(time.monotonic() - start)
        assert reply.startswith(b"HTTP/1.1 200 ")  # the kept-alive one: its first request was answered
    finally:
        for sock in [*socks, kept_alive]:
            sock.close()
    assert max(closed_after) < HEADER_TIMEOUT_S + 5, max(closed_after)
    assert min(closed_after) >= HEADER_TIMEOUT_S - 0.5, min(closed_after)
    assert httpx.get(guarded.url + "/health/live", timeout=10).status_code == 200


def test_a_head_pipelined_behind_a_request_is_bounded_too(guarded: ServiceProcess):
    """A second request's head sent on the same connection right behind the first is counted as well."""
    with connect(guarded) as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n" + HEAD + b"X-Big: ")
        sent = send_until_closed(sock, b"c" * 65536, 100 << 20)
        reply_of(sock)  # returns once the server has closed (its answer to the first may be lost to the reset)
    assert sent < 64 << 20, sent  # the pipelined head was cut, not buffered
    assert httpx.get(guarded.url + "/health/live", timeout=10).status_code == 200
