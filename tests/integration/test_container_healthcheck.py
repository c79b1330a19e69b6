"""The Dockerfile's HEALTHCHECK command, run as it is against a live service, exits 0."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from urllib.parse import urlparse

import pytest

from model.paths import REPO_ROOT

pytestmark = pytest.mark.slow

DOCKERFILE = REPO_ROOT / "docker" / "Dockerfile"


def healthcheck_command() -> list[str]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    match = re.search(r"^HEALTHCHECK .*?\bCMD (\[.*\])\s*$", text, flags=re.MULTILINE)
    assert match, "no HEALTHCHECK CMD [...] in docker/Dockerfile"
    return json.loads(match.group(1))


def test_dockerfile_healthcheck_passes_against_a_live_service(server: str):
    command = healthcheck_command()
    assert command[0] == "python"  # the venv's python is first on the image's PATH
    env = {**os.environ, "MICRO_PORT": str(urlparse(server).port)}
    result = subprocess.run([sys.executable, *command[1:]], check=False, env=env, capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stderr


def test_dockerfile_healthcheck_fails_when_nothing_listens():
    from evaluation.service_process import free_port

    env = {**os.environ, "MICRO_PORT": str(free_port())}
    result = subprocess.run([sys.executable, *healthcheck_command()[1:]], check=False, env=env, capture_output=True,
                            timeout=30)
    assert result.returncode != 0
