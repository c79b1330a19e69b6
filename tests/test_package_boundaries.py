"""The three packages depend one way: model/ imports neither service/ nor evaluation/, service/
never imports evaluation/, and neither model/ nor service/ needs matplotlib (an optional extra of
the evaluation package). Every module of both packages is imported in a fresh interpreter in
which importing matplotlib or evaluation fails."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from model.paths import REPO_ROOT

BLOCKER = """
import importlib.abc, importlib.util, pkgutil, sys
BLOCKED = {"matplotlib", "evaluation"}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"blocked import: {name}")
        return None
sys.meta_path.insert(0, Block())
import model, service
names = []
for package in (model, service):
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if info.name.endswith("__main__"):
            continue
        importlib.import_module(info.name)
        names.append(info.name)
print(len(names))
"""


def test_model_and_service_import_without_matplotlib_or_evaluation():
    done = subprocess.run(
        [sys.executable, "-c", "import importlib\n" + BLOCKER], cwd=REPO_ROOT, capture_output=True, text=True,
        timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert int(done.stdout.strip().splitlines()[-1]) > 40  # every module of both packages was imported


def imported_packages(path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize(
    ("package", "forbidden"), [("model", {"service", "evaluation", "matplotlib"}), ("service", {"evaluation", "matplotlib"})]
)
def test_no_import_runs_against_the_dependency_direction(package: str, forbidden: set[str]):
    offenders = {
        str(path.relative_to(REPO_ROOT)): sorted(imported_packages(path) & forbidden)
        for path in sorted((REPO_ROOT / package).rglob("*.py"))
        if imported_packages(path) & forbidden
    }
    assert offenders == {}
