"""Runs an example in .venv-torch (scripts/integrations.sh --torch: TRL 1.16.0, veRL 0.9.1 on top of
.venv's torch) against a service; CI builds that venv, so these tests run there. Without it they
skip, saying so, unless MICRO_REQUIRE_TORCH_VENV=1 (set by .ci/run), where a missing venv fails."""

from __future__ import annotations

import os
import subprocess

import pytest

from model.paths import REPO_ROOT

TORCH_PYTHON = REPO_ROOT / ".venv-torch" / "bin" / "python"


def run_in_torch_venv(script: str, micro_url: str, *args: str, ok: bool = True,
                      timeout_s: float = 400) -> subprocess.CompletedProcess[str]:
    """``script`` (relative to the repository) run by .venv-torch's Python with MICRO_URL set and
    the working tree's client first on the path; asserts its exit status is 0 (``ok``) or not."""
    if not TORCH_PYTHON.exists():
        if os.environ.get("MICRO_REQUIRE_TORCH_VENV") == "1":
            pytest.fail(".venv-torch missing although MICRO_REQUIRE_TORCH_VENV=1: scripts/integrations.sh --torch")
        pytest.skip(".venv-torch missing: run scripts/integrations.sh --torch")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICRO_")}
    env |= {"MICRO_URL": micro_url, "PYTHONPATH": str(REPO_ROOT / "client"), "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run([str(TORCH_PYTHON), str(REPO_ROOT / script), *args], capture_output=True, text=True,
                          timeout=timeout_s, env=env, check=False, cwd=REPO_ROOT)
    if ok:
        assert done.returncode == 0, done.stderr[-3000:]
    else:
        assert done.returncode != 0, done.stdout[-2000:]
    return done
