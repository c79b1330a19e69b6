"""Session fixtures shared by every test package, and the ``integration`` marker: every test
under tests/integration/ (real Redis, real uvicorn) carries it, so ``pytest -m "not integration"``
runs the fast unit tests only."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.helpers import make_tiny_checkpoint

INTEGRATION_DIR = Path(__file__).parent / "integration"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(INTEGRATION_DIR):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_checkpoint(tmp_path_factory.mktemp("checkpoint") / "tiny")


@pytest.fixture(scope="session")
def key_prefix() -> str:
    """A Redis key prefix no other test session uses."""
    return f"test-{uuid.uuid4().hex[:10]}"
