"""Session fixtures shared by unit and integration tests."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.helpers import make_tiny_checkpoint


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_checkpoint(tmp_path_factory.mktemp("checkpoint") / "tiny")


@pytest.fixture(scope="session")
def key_prefix() -> str:
    """A Redis key prefix no other test session uses."""
    return f"test-{uuid.uuid4().hex[:10]}"
