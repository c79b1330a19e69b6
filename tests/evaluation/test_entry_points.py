"""The evaluation package's reports run as ``python -m evaluation.<report>`` and say so."""

import subprocess
import sys

import pytest

from model.paths import REPO_ROOT


@pytest.mark.parametrize("report", ["stage1", "curves", "reports", "stage1_checkpoint", "lexical_mixture"])
def test_report_runs_as_a_module_and_names_its_command(report: str):
    done = subprocess.run(
        [sys.executable, "-m", f"evaluation.{report}", "--help"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert f"python -m evaluation.{report}" in done.stdout
