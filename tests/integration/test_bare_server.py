"""bench/bare_server.py (the per-request reference of bench.rl_compare) and the service answer the
same /get_reward rewards in fp32: same backbone, features and head, for samples without a user."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from evaluation.service_process import ServiceProcess

PROMPT = "<|user|>\nName three ways to reduce greenhouse gas emissions.\n<|assistant|>\n"
ANSWERS = ["1. Renewables. 2. Efficiency. 3. Reforestation.", "Well, buckle up, the planet is the greatest show!",
           "Plant trees. " * 60]


@pytest.fixture(scope="module")
def bare(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("bare-log") / "bare.log"
    with ServiceProcess(log, module="bench.bare_server", ready_path="/health", checkpoint=tiny_checkpoint) as proc:
        yield proc.url


def test_the_bare_server_and_the_service_return_the_same_rewards_in_fp32(bare: str, server: str):
    body = {"query": [PROMPT + a for a in ANSWERS], "prompts": [PROMPT] * len(ANSWERS), "labels": [""] * len(ANSWERS)}
    ours = httpx.post(f"{server}/get_reward", json=body, timeout=60).json()["rewards"]
    theirs = httpx.post(f"{bare}/get_reward", json=body, timeout=60).json()["rewards"]
    one_at_a_time = [httpx.post(f"{bare}/get_reward", timeout=60, json={"query": [q], "prompts": [PROMPT]}).json()["rewards"][0]
                     for q in body["query"]]
    assert ours == pytest.approx(theirs, abs=1e-4)
    assert one_at_a_time == pytest.approx(theirs, abs=1e-4)
