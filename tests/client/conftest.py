"""The client tests' servers: a real ``python -m service`` (evaluation/service_process.py) on the real
Redis (database 15, the session's key prefix): one with auth off, and one with MICRO_AUTH=on,
a read+write key for the tests that need auth and, with MICRO_URL_KEYS=true, a read-only key of
the same tenant for OpenRLHF's header-less client (/k/<key>/get_reward)."""

from __future__ import annotations

import hashlib
import secrets
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from model.paths import REPO_ROOT
from evaluation.service_process import ServiceProcess
from tests.helpers import TEST_REDIS_URL

try:  # the working tree's client, also where scripts/integrations.sh has not installed it yet
    import micro_client  # noqa: F401
except ImportError:
    sys.path.insert(0, str(REPO_ROOT / "client"))


def _forget(prefix: str) -> None:
    client = redis.Redis.from_url(TEST_REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)


def _settings(checkpoint: Path, prefix: str) -> dict[str, object]:
    return {"checkpoint": checkpoint, "redis_url": TEST_REDIS_URL, "key_prefix": prefix, "max_wait_ms": 5,
            "torch_threads": 2}


@pytest.fixture(scope="session")
def micro_url(tiny_checkpoint: Path, key_prefix: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a service with auth off."""
    log = tmp_path_factory.mktemp("client-logs") / "service.log"
    with ServiceProcess(log, **_settings(tiny_checkpoint, f"{key_prefix}-client")) as service:
        yield service.url
    _forget(f"{key_prefix}-client")


@dataclass(frozen=True)
class AuthServer:
    url: str
    key: str  # read+write, sent as a header
    read_only_key: str  # for /k/<key>/get_reward


@pytest.fixture(scope="session")
def auth_server(tiny_checkpoint: Path, key_prefix: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    """A service with MICRO_AUTH=on, MICRO_URL_KEYS=true, a read+write and a read-only key (tenant ``rl``)."""
    key, read_only_key = secrets.token_hex(16), secrets.token_hex(16)
    digest, read_only_digest = (hashlib.sha256(k.encode()).hexdigest() for k in (key, read_only_key))
    log = tmp_path_factory.mktemp("client-auth-logs") / "service.log"
    settings = _settings(tiny_checkpoint, f"{key_prefix}-client-auth")
    keys = f"rl:read+write:{digest},rl:read:{read_only_digest}"
    with ServiceProcess(log, auth="on", api_keys=keys, url_keys="true", **settings) as service:
        yield AuthServer(service.url, key, read_only_key)
    _forget(f"{key_prefix}-client-auth")


PROMPT = "How should I learn to cook?"
GOOD, BAD = "Start with three simple recipes and cook each twice a week.", "Just order takeout."
LABELS = [  # one consistent user: a preference for short, concrete answers
    ("How should I learn to cook?", "Start with three simple recipes.", "Cooking is an ancient art practised by all."),
    ("How do I save money?", "Put 10% of each paycheque aside.", "Money has existed for thousands of years."),
    ("How can I sleep better?", "Go to bed at the same time every night.", "Sleep is a state studied by scientists."),
]


def teach(client: object, user_id: str, repeats: int = 2, opposite: bool = False) -> None:
    """Give ``user_id`` a few consistent labels so their weights leave the prior (``opposite``:
    the reverse taste, every label flipped)."""
    for _ in range(repeats):
        for prompt, chosen, rejected in LABELS:
            first, second = (rejected, chosen) if opposite else (chosen, rejected)
            client.feedback(user_id, prompt, first, second)  # type: ignore[attr-defined]


@pytest.fixture()
def user_id(request: pytest.FixtureRequest) -> str:
    """A user id no other test uses."""
    return f"u-{request.node.name[:40].replace('[', '-').replace(']', '')}-{secrets.token_hex(3)}"


@pytest.fixture(scope="session")
def tastes(micro_url: str) -> str:
    """The auth-off service's URL, with alice and bob (the users of examples/*/prompts.jsonl) given
    opposite labelled tastes."""
    from micro_client import MicroClient

    with MicroClient(micro_url) as mc:
        teach(mc, "alice")
        teach(mc, "bob", opposite=True)
    return micro_url
