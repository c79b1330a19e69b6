"""The README's "First five minutes" block, pasted twice: both runs print the same (it erases its
user first and stops its service at the end), on a free port and a key prefix of its own."""

from __future__ import annotations

import os
import re
import subprocess
import uuid

from evaluation.service_process import free_port
from model.paths import REPO_ROOT
from tests.helpers import TEST_REDIS_URL
from tests.integration.conftest import delete_prefix

VOLATILE = re.compile(r'"(updated_at|request_id)":[^,}]*')  # what may differ between two runs


def quickstart_block() -> str:
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## First five minutes", 1)[1]
    return section.split("```bash\n", 1)[1].split("```", 1)[0]


def paste(block: str, env: dict[str, str]) -> str:
    done = subprocess.run(["bash", "-c", block], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=400, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return VOLATILE.sub("", done.stdout)


def test_the_quickstart_pasted_twice_prints_the_same():
    port = free_port()
    block = quickstart_block().replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    prefix = f"test-quickstart-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICRO_")}
    env.update(MICRO_PORT=str(port), MICRO_KEY_PREFIX=prefix, MICRO_REDIS_URL=TEST_REDIS_URL, MICRO_TORCH_THREADS="2")
    try:
        first, second = paste(block, env), paste(block, env)
    finally:
        delete_prefix(TEST_REDIS_URL, prefix)
    assert '"applied":true' in first and '"weights_source":"user"' in first, first
    assert first == second
