"""micro_client stands alone: httpx is its only dependency and nothing in it imports torch."""

from __future__ import annotations

import subprocess
import sys
import tomllib

import pytest

from model.paths import REPO_ROOT

MODULES = ["micro_client", "micro_client.adapters.openrlhf", "micro_client.adapters.verl",
           "micro_client.adapters.trl"]


def test_the_only_declared_dependency_is_httpx() -> None:
    project = tomllib.loads((REPO_ROOT / "client" / "pyproject.toml").read_text())["project"]
    assert [d.split(">")[0].split("=")[0] for d in project["dependencies"]] == ["httpx"]


def test_client_and_adapters_import_with_torch_unavailable() -> None:
    code = ("import sys; sys.modules['torch'] = None; sys.modules['model'] = None; sys.modules['service'] = None\n"
            f"sys.path.insert(0, {str(REPO_ROOT / 'client')!r})\n"
            f"import importlib; [importlib.import_module(m) for m in {MODULES!r}]")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr


def test_installed_in_the_torch_free_test_venv() -> None:
    python = REPO_ROOT / ".venv-rl" / "bin" / "python"
    if not python.exists():
        pytest.skip(".venv-rl missing: run scripts/integrations.sh")
    code = (f"import importlib, importlib.util; [importlib.import_module(m) for m in {MODULES!r}]; "
            "assert importlib.util.find_spec('torch') is None, 'torch in .venv-rl'")
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=60, cwd="/", check=False)
    assert done.returncode == 0, done.stderr
