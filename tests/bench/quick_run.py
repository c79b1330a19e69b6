"""Run one benchmark module with ``--quick`` against the test Redis; its stdout and JSON figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from model.paths import REPO_ROOT
from tests.helpers import TEST_REDIS_URL


def run_quick(module: str, out: Path, limit_s: float) -> tuple[str, dict]:
    """``python -m <module> --quick``; ``limit_s`` is a hang guard, not a speed check."""
    done = subprocess.run(
        [sys.executable, "-m", module, "--quick", "--redis-url", TEST_REDIS_URL, "--json", str(out)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=limit_s, check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout, json.loads(out.read_text())
