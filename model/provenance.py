"""What a checkpoint records about how it was made: the data's fingerprint, the code's git
commit and the versions of the packages that did the work."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Sequence
from importlib import metadata
from typing import Any

from model.paths import REPO_ROOT

PACKAGES = ("micro-reward", "torch", "transformers", "tokenizers", "safetensors", "numpy", "pyarrow")


def data_fingerprint(file_hashes: Sequence[str]) -> str:
    """sha256 over the sources' own sha256 values, in the order given."""
    return hashlib.sha256("\n".join(file_hashes).encode("ascii")).hexdigest()


def git_commit() -> dict[str, Any] | None:
    """The repository's HEAD and whether tracked files differ from it; None outside a git checkout."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=False)
        if head.returncode != 0:
            return None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip()) if status.returncode == 0 else None}


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions
