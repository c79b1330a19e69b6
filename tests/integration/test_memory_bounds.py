"""Memory stays bounded against a real server with auth on (evaluation/service_process.py): unauthenticated
8 MB bodies are refused before they are read (RSS grows by less than 100 MB under 20 at once),
and after maximal authenticated requests (every limit at its default) the resident memory comes
back to within 300 MB of idle. RSS is read from /proc/<pid>/status (Linux only)."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Self

import httpx
import pytest

from service.core.config import Settings
from evaluation.service_process import ServiceProcess
from tests.integration.conftest import service_on_own_prefix

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")]

KEY = f"key-memory-{uuid.uuid4().hex}"
MB = 1024 * 1024
LIMITS = Settings()  # the shipped defaults: the server below runs with them
ATTACKERS = 20  # concurrent unauthenticated bodies
ATTACK_GROWTH_MB = 100  # the acceptance bound of issue 16
MAXIMAL_REQUESTS = 10
SETTLED_OVER_IDLE_MB = 300  # the acceptance bound of issue 16


def rss_mb(pid: int) -> float:
    """The process's resident set size now (VmRSS), in MiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE).group(1)) / 1024


class PeakRss:
    """Samples a process's RSS every few milliseconds while the block runs; ``peak`` in MiB."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, rss_mb(pid), threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb(self.pid))
            time.sleep(0.005)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture(scope="module")
def secured(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """A server with auth on and every size limit at its default."""
    digest = hashlib.sha256(KEY.encode()).hexdigest()
    log = tmp_path_factory.mktemp("memory") / "memory.log"
    with service_on_own_prefix("memory", log, tiny_checkpoint, auth="on", api_keys=f"memory:read+write:{digest}",
                               request_timeout_s=600) as proc:  # request_timeout_s: a slow CI machine
        yield proc


def idle_rss(service: ServiceProcess) -> float:
    """RSS after a few small authenticated requests (allocator pools warm) and a pause."""
    with httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=60) as c:
        for _ in range(3):
            assert c.post("/v1/score", json={"prompt": "hi", "responses": ["a", "b"]}).status_code == 200
    time.sleep(1.0)
    return rss_mb(service.proc.pid)


def post_unauthenticated(port: int, path: str, size: int) -> int | None:
    """POST ``size`` bytes of JSON without a key over a raw socket, sending the whole body unless the
    server stops taking it; -> the status the server answered (None: no answer)."""
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {size}\r\nConnection: close\r\n\r\n").encode()
    chunk = b'{"prompt": "' + b"x" * (64 * 1024 - 12)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        sock.settimeout(2.0)  # a server that reads nothing fills the socket buffers: then stop sending
        try:
            for start in range(0, size, len(chunk)):
                sock.sendall(chunk[: min(len(chunk), size - start)])
        except OSError:  # timeout, broken pipe or reset: the server refused the rest
            pass
        sock.settimeout(10)
        try:
            reply = sock.recv(4096)
        except OSError:
            return None
    match = re.match(rb"HTTP/1\.1 (\d{3})", reply)
    return int(match.group(1)) if match else None


def test_unauthenticated_8_mb_bodies_are_refused_without_growing_memory(secured: ServiceProcess):
    idle = idle_rss(secured)
    size = LIMITS.max_body_bytes  # 8 MiB: the largest body the server would take from a known key
    paths = ["/v1/score", "/v1/feedback", "/get_reward", "/v1/score:batch"]
    with PeakRss(secured.proc.pid) as rss, ThreadPoolExecutor(ATTACKERS) as pool:
        statuses = list(pool.map(lambda i: post_unauthenticated(secured.port, paths[i % 4], size), range(ATTACKERS)))
    growth = rss.peak - idle
    print(f"\n{ATTACKERS} unauthenticated {size / MB:.0f} MiB bodies: statuses {sorted(set(map(str, statuses)))}, "
          f"idle RSS {idle:.0f} MiB, peak {rss.peak:.0f} MiB (+{growth:.1f} MiB)")
    assert statuses == [401] * ATTACKERS
    assert growth < ATTACK_GROWTH_MB


def maximal_bodies() -> list[tuple[str, dict]]:
    """Requests at the default limits: every count at its maximum, texts filling MICRO_MAX_TOTAL_CHARS."""
    total, n_resp, n_msg = LIMITS.max_total_chars, LIMITS.max_responses, LIMITS.max_messages
    per_text = min(LIMITS.max_text_chars, (total - LIMITS.max_text_chars - LIMITS.max_context_chars - 64) // n_resp)
    context = "I like thorough answers. " * (LIMITS.max_context_chars // 25)
    prompt = ("Tell me about the history of mathematics. " * 1000)[: LIMITS.max_text_chars]
    # non-ASCII: 2 bytes a character in memory, 6 in the JSON body ("\u00e9"): the body nears MICRO_MAX_BODY_BYTES
    responses = [(f"answer {i}: " + "éàü " * 5000)[:per_text] for i in range(n_resp)]
    turn = min(LIMITS.max_text_chars, (total - 2 * per_text) // n_msg - 16)
    messages = [{"role": "user" if i % 2 == 0 else "assistant", "content": (f"turn {i} " + "words " * 4000)[:turn]}
                for i in range(n_msg - 1)]
    messages.append({"role": "user", "content": "And now?"})
    n_q = LIMITS.max_queries
    queries = [(f"query {i}: " + "a reward model reads this " * 500)[: (total // n_q) - 16] for i in range(n_q)]
    n_items = LIMITS.max_batch_items
    items = [{"prompt": f"p{i} " + "x" * 600, "responses": [f"r{i}{j} " + "y" * (total // (n_items * 4) - 200)
                                                               for j in range(LIMITS.max_batch_responses // n_items)]}
             for i in range(n_items)]
    score = ("/v1/score", {"user_id": "max-1", "prompt": prompt, "context": context, "responses": responses})
    chat = ("/v1/score", {"messages": messages, "responses": responses[:2]})
    reward = ("/get_reward", {"query": queries})
    batch = ("/v1/score:batch", {"items": items})
    return [score, chat, reward, batch, score, chat, score, chat, score, chat][:MAXIMAL_REQUESTS]


def test_memory_returns_after_maximal_authenticated_requests(secured: ServiceProcess):
    bodies = maximal_bodies()
    assert all(len(json.dumps(body)) <= LIMITS.max_body_bytes for _, body in bodies)
    idle = idle_rss(secured)

    def post(path_body: tuple[str, dict]) -> int:
        """Until answered: a 429 (the queue holds max_queue texts, fewer than 10 maximal requests) is retried."""
        path, body = path_body
        for _ in range(100):
            reply = httpx.post(secured.url + path, json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=600)
            if reply.status_code != 429:
                break
            time.sleep(float(reply.headers.get("retry-after", 1)))
        return reply.status_code

    start = time.perf_counter()
    with PeakRss(secured.proc.pid) as rss, ThreadPoolExecutor(MAXIMAL_REQUESTS) as pool:
        statuses = list(pool.map(post, bodies))
    seconds = time.perf_counter() - start
    time.sleep(2.0)
    settled = rss_mb(secured.proc.pid)
    print(f"\n{MAXIMAL_REQUESTS} maximal requests in {seconds:.0f} s: statuses {statuses}, idle RSS {idle:.0f} MiB, "
          f"peak {rss.peak:.0f} MiB, after {settled:.0f} MiB (+{settled - idle:.0f} MiB)")
    assert statuses == [200] * MAXIMAL_REQUESTS
    assert settled - idle < SETTLED_OVER_IDLE_MB
