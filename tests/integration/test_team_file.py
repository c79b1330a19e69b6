"""A team's first day, as a CI-sized run: their own preference file with user ids (three users
with distinct tastes: short answers, bulleted lists, safety caveats; evaluation/team_file.py),
trained with the README's training command *as written* (read from README.md; only the file,
the output folder, the cache and the thread count are filled in), served by ``python -m service``
on the real Redis; then, over HTTP, each new user's own style must rank first among the four
answers on held-out prompts at least 0.25 more often after 10 labels than before (or on every
held-out prompt, where the prior already gets most of them: caveats, the longest answer, starts high)."""

from __future__ import annotations

import shlex
import subprocess
import sys
import uuid
from pathlib import Path

from evaluation.service_process import ServiceProcess
from model.paths import REPO_ROOT
from tests.helpers import TEST_REDIS_URL
from tests.integration.conftest import delete_prefix
from evaluation.team_file import team_prompts, write_team_file
from evaluation.team_http import curves

TRAIN_PROMPTS, HELD_OUT_PROMPTS, LABELS = 36, 20, 10
REQUIRED_GAIN = 0.25


def readme_train_command() -> list[str]:
    """The README's ``python -m model.train`` line, split as a shell would."""
    lines = [ln for ln in (REPO_ROOT / "README.md").read_text(encoding="utf-8").splitlines()
             if "-m model.train --data" in ln and not ln.lstrip().startswith("#")]
    assert lines, "README.md has no `python -m model.train --data ...` line"
    return shlex.split(lines[0].split("#")[0])


def with_values(command: list[str], **values: str) -> list[str]:
    """``command`` with the value after each ``--flag`` replaced (flag given as a keyword: data=...)."""
    out = list(command)
    for flag, value in values.items():
        out[out.index(f"--{flag}") + 1] = value
    return out


def test_the_readme_recipe_learns_a_teams_users(tmp_path: Path):
    train_prompts = team_prompts(0, TRAIN_PROMPTS)
    held_out = team_prompts(TRAIN_PROMPTS, HELD_OUT_PROMPTS)
    data = write_team_file(tmp_path / "team.jsonl", train_prompts)
    command = with_values(readme_train_command(), data=str(data), out=str(tmp_path / "ck"))
    assert command[:3] == [".venv/bin/python", "-m", "model.train"], command
    done = subprocess.run([sys.executable, *command[1:], "--cache-dir", str(tmp_path / "cache"), "--threads", "2"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "--group-by auto: user" in done.stderr  # the file names its users: grouped by user without a flag

    prefix = f"test-team-{uuid.uuid4().hex[:8]}"
    try:
        with ServiceProcess(tmp_path / "service.log", checkpoint=tmp_path / "ck", redis_url=TEST_REDIS_URL,
                            key_prefix=prefix, torch_threads=2, max_wait_ms=2) as service:
            result = curves(service.url, train_prompts, held_out, counts=(0, LABELS))
    finally:
        delete_prefix(TEST_REDIS_URL, prefix)
    gains = {style: (by_count[0], by_count[LABELS]) for style, by_count in result.items()}
    print("own style first among 4 on held-out prompts, before -> after 10 labels:",
          {s: f"{b:.2f} -> {a:.2f}" for s, (b, a) in gains.items()})
    assert all(after - before >= min(REQUIRED_GAIN, 1.0 - before) for before, after in gains.values()), gains
