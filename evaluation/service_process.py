"""``python -m service`` as a child process on a free loopback port: the one harness the tests,
the benchmarks and the end-to-end evaluation start servers with. Standard library only.

    with ServiceProcess(log_path, checkpoint=ckpt, redis_url=url) as service:   # started and ready
        httpx.get(service.url + "/v1/model")
    # stopped with SIGTERM; service.exit_code says how it ended

or explicitly: ``start()`` (returns at once, so several servers load their model together),
``wait_ready()``, ``stop()``. ``settings`` are MICRO_* values without the prefix
(``max_batch_size=1`` -> ``MICRO_MAX_BATCH_SIZE=1``); MICRO_* variables of the calling
environment are not inherited, so a server runs with exactly the settings given here.
stdout and stderr (the JSON-lines log) go to ``log_path``; errors carry the log's tail.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Self

from model.paths import REPO_ROOT

READY_TIMEOUT_S = 180.0  # loading the backbone on a busy 2-core machine takes tens of seconds
STOP_TIMEOUT_S = 30.0  # SIGTERM drains requests in flight for up to MICRO_SHUTDOWN_GRACE_S (default 20 s)


class ServiceStartError(RuntimeError):
    """The service exited or never became ready; the message ends with its log's tail."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def settings_env(settings: dict[str, object], port: int) -> dict[str, str]:
    """The child's environment: ours without MICRO_*, then the given settings, host and port."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICRO_")}
    env.update({f"MICRO_{name.upper()}": str(value) for name, value in settings.items()})
    env.update(MICRO_HOST="127.0.0.1", MICRO_PORT=str(port), PYTHONUNBUFFERED="1")
    return env


def die_with_parent() -> None:
    """In the child, Linux only: SIGTERM when the process that started it dies, so a harness that
    is killed (a test's timeout) leaves no server behind. (Strictly: when the *thread* that called
    ``start`` ends, so start servers from a thread that outlives them, e.g. the main thread.)"""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1  # PR_SET_PDEATHSIG in <sys/prctl.h>
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy


def answers_200(url: str, timeout_s: float = 2.0) -> bool:
    try:
        with NO_PROXY_OPENER.open(url, timeout=timeout_s) as reply:
            return reply.status == 200
    except (urllib.error.URLError, OSError):  # HTTPError (503 while loading) is a URLError
        return False


class ServiceProcess:
    """One ``python -m service`` child. ``ready_path``: the health route that must answer 200
    (``/health/ready``: model loaded and warm, whether Redis answers or not; ``/health/live``:
    serving HTTP)."""

    def __init__(self, log_path: Path, *, ready_path: str = "/health/ready", module: str = "service",
                 **settings: object) -> None:
        self.log_path, self.ready_path, self.settings = Path(log_path), ready_path, settings
        self.module = module  # ``python -m <module>``: the service, or bench.bare_server (same env contract)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    # ---- lifecycle -----------------------------------------------------------------------
    def start(self) -> Self:
        """Launch the process; returns at once (see ``wait_ready``)."""
        if self.proc is not None:
            raise RuntimeError("this ServiceProcess was started already")
        with open(self.log_path, "wb") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen([sys.executable, "-m", self.module], cwd=REPO_ROOT,
                                         env=settings_env(self.settings, self.port),
                                         stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        return self

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> str:
        """Block until ``ready_path`` answers 200; returns the base URL. On exit or timeout the
        process is stopped and ServiceStartError carries the log's tail."""
        proc = self._started()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise ServiceStartError(f"the service exited with {proc.returncode}:\n{self.log_tail()}")
            if answers_200(self.url + self.ready_path):
                return self.url
            time.sleep(0.2)
        self.stop()
        raise ServiceStartError(f"{self.url + self.ready_path} not 200 after {timeout_s:.0f} s:\n{self.log_tail()}")

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout_s``; returns the exit code (None if never started)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def __enter__(self) -> Self:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # ---- inspection ----------------------------------------------------------------------
    @property
    def exit_code(self) -> int | None:
        """None while running (or before start); 0 after a graceful SIGTERM."""
        return None if self.proc is None else self.proc.poll()

    def log_tail(self, n: int = 40) -> str:
        """The last ``n`` lines of the server's log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except FileNotFoundError:
            return "(no log)"

    def _started(self) -> subprocess.Popen[bytes]:
        if self.proc is None:
            raise RuntimeError("call start() first")
        return self.proc
