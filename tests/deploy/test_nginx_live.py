"""A real nginx running docker/nginx.conf's server block refuses every spelling of /metrics itself
(the replicas never see the request) and passes the API through. The upstream is a recording HTTP
server on loopback; only what nginx < 1.27.3 cannot run (``resolve`` in the upstream, Docker's DNS)
and the listen/log paths are changed. Skips without nginx (scripts/ci-tools.sh installs it)."""

from __future__ import annotations

import http.server
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from evaluation.service_process import free_port
from tests.deploy.deploy_files import ROOT, tool

METRICS_SPELLINGS = ["/metrics", "/metrics/", "/metrics?name[]=x", "//metrics", "/%6Detrics", "/./metrics",
                     "/v1/../metrics"]
API_PATHS = ["/v1/score", "/get_reward", "/health/ready", "/docs", "/"]


class Recorder(http.server.BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        Recorder.seen.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def local_config(upstream_port: int, listen_port: int, workdir: Path) -> str:
    text = (ROOT / "docker" / "nginx.conf").read_text()
    text = re.sub(r"resolver [^;]*;", "", text)
    text = re.sub(r"server micro:\d+ resolve;", f"server 127.0.0.1:{upstream_port};", text)
    text = re.sub(r"listen \d+;", f"listen 127.0.0.1:{listen_port};", text)
    text = text.replace("access_log /dev/stdout main;", f"access_log {workdir}/access.log main;")
    text = text.replace("error_log /dev/stderr warn;", f"error_log {workdir}/error.log warn;")
    return f"pid {workdir}/nginx.pid;\ndaemon off;\n{text}"


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    exe = tool("nginx")
    workdir = tmp_path_factory.mktemp("nginx")
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    port = free_port()
    (workdir / "nginx.conf").write_text(local_config(upstream.server_address[1], port, workdir))
    proc = subprocess.Popen([exe, "-c", str(workdir / "nginx.conf"), "-p", str(workdir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(f"{url}/nginx-health", timeout=0.5)
            break
        except httpx.TransportError:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(timeout=10)
    upstream.shutdown()


def raw_get(base: str, path: str) -> int:
    """GET with the path sent exactly as written (no client-side normalisation)."""
    with httpx.Client(timeout=5) as client:
        request = client.build_request("GET", base)
        request.url = request.url.copy_with(raw_path=path.encode())
        return client.send(request).status_code


@pytest.mark.parametrize("path", METRICS_SPELLINGS)
def test_real_nginx_answers_404_for_metrics_without_asking_a_replica(nginx: str, path: str):
    before = len(Recorder.seen)
    assert raw_get(nginx, path) == 404
    assert Recorder.seen[before:] == []


@pytest.mark.parametrize("path", API_PATHS)
def test_real_nginx_passes_the_api_to_a_replica(nginx: str, path: str):
    before = len(Recorder.seen)
    assert raw_get(nginx, path) == 200
    assert Recorder.seen[before:] == [path]
