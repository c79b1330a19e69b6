"""OpenRLHF's own reward-fetching code (openrlhf/utils/agent.py, SingleTurnAgentExecutor: one
query per POST, many in flight, per-sample labels, several URLs sharding a batch), installed with
--no-deps in .venv-rl by scripts/integrations.sh and run in a child process, against a real
server: per-sample users from labels, extra_logs, empty shards, and auth through a read-only key in
the URL (/k/<key>/get_reward), the documented way for a client that sends no header."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from micro_client import MicroClient
from micro_client.adapters.openrlhf import label

from model.paths import REPO_ROOT
from tests.client.conftest import LABELS, teach

RL_PYTHON = REPO_ROOT / ".venv-rl" / "bin" / "python"
DRIVER = REPO_ROOT / "examples" / "openrlhf" / "reward_path.py"
REWARD_FUNC_FILE = REPO_ROOT / "examples" / "openrlhf" / "reward_func.py"
CURRENT, SHARDING = "0.11.2", "0.10.4"  # 0.10.x posts empty shards to the other URLs
IN_FLIGHT = 64


def openrlhf_root(version: str) -> Path:
    root = REPO_ROOT / ".venv-rl" / "openrlhf" / version
    if not RL_PYTHON.exists() or not (root / "openrlhf" / "utils" / "agent.py").exists():
        pytest.skip(f"OpenRLHF {version} test venv missing: run scripts/integrations.sh")
    return root


def run_openrlhf(version: str, urls: list[str], samples: list[dict], tmp_path: Path,
                 env: dict[str, str] | None = None) -> list[dict]:
    out = tmp_path / f"rewards-{version}.json"
    job = json.dumps({"urls": urls, "samples": samples, "concurrency": IN_FLIGHT})
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("MICRO_")} | (env or {})
    done = subprocess.run([str(RL_PYTHON), str(DRIVER), str(openrlhf_root(version)), str(out)], input=job,
                          text=True, capture_output=True, timeout=300, env=child_env, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text())


def rollout(users: list[str | None], n: int = IN_FLIGHT) -> list[dict]:
    """n samples in the Human/Assistant template; the label names the sample's user ("" for none)."""
    samples = []
    for i in range(n):
        prompt, chosen, rejected = LABELS[i % len(LABELS)]
        user = users[i % len(users)]
        samples.append({"prompt": f"Human: {prompt}\n\nAssistant:", "response": " " + (chosen, rejected)[i // 3 % 2],
                        "label": label(user) if user else ""})
    return samples


def scores_of(url: str, samples: list[dict], users: list[str | None], key: str | None = None) -> list[float]:
    with MicroClient(url, key) as mc:
        return [mc.score(s["prompt"], [s["response"]], user_id=u).scores[0] for s, u in zip(samples, users)]


def rewards_of(results: list[dict]) -> list[float]:
    """The reward each sample gets in OpenRLHF (a one-element list per query, as its serve_rm replies)."""
    assert all(r["reward"] is not None for r in results), "OpenRLHF got no reward for some samples"
    return [r["reward"][0] if isinstance(r["reward"], list) else r["reward"] for r in results]


def assert_valid_for_openrlhf(results: list[dict]) -> None:
    for r in results:
        assert isinstance(r["reward"], list) and len(r["reward"]) == 1 and r["scores"] == r["reward"]
        assert all(isinstance(v, list) and len(v) == 1 for v in r["extra_logs"].values())


def test_64_in_flight_get_the_prior_scores(micro_url: str, tmp_path: Path) -> None:
    samples = rollout([None])
    results = run_openrlhf(CURRENT, [micro_url + "/get_reward"], samples, tmp_path)
    assert_valid_for_openrlhf(results)
    assert rewards_of(results) == pytest.approx(scores_of(micro_url, samples, [None] * len(samples)), abs=1e-3)


def test_query_string_user_personalises_every_sample(micro_url: str, user_id: str, tmp_path: Path) -> None:
    with MicroClient(micro_url) as mc:
        teach(mc, user_id)
    samples = rollout([None], n=12)
    results = run_openrlhf(CURRENT, [f"{micro_url}/get_reward?user_id={user_id}"], samples, tmp_path)
    mine = scores_of(micro_url, samples, [user_id] * 12)
    assert rewards_of(results) == pytest.approx(mine, abs=1e-3)
    assert mine != pytest.approx(scores_of(micro_url, samples, [None] * 12), abs=1e-4)


def test_two_urls_are_rotated_without_empty_shards(micro_url: str, tmp_path: Path) -> None:
    results = run_openrlhf(CURRENT, [micro_url + "/get_reward"] * 2, rollout([None], n=16), tmp_path)
    assert_valid_for_openrlhf(results)


def test_reward_func_file_gives_each_sample_its_users_reward_with_the_api_key(auth_server, tmp_path: Path) -> None:
    with MicroClient(auth_server.url, auth_server.key) as mc:
        teach(mc, "alice")
    users = ["alice", "bob", None]
    samples = rollout(users)
    env = {"MICRO_URL": auth_server.url, "MICRO_API_KEY": auth_server.key}
    results = run_openrlhf(CURRENT, [str(REWARD_FUNC_FILE)], samples, tmp_path, env)
    per_sample_users = [users[i % 3] for i in range(len(samples))]
    expected = scores_of(auth_server.url, samples, per_sample_users, auth_server.key)
    assert rewards_of(results) == pytest.approx(expected, abs=1e-3)
    prior = scores_of(auth_server.url, samples, [None] * len(samples), auth_server.key)
    assert rewards_of(results)[0] != pytest.approx(prior[0], abs=1e-4)  # alice's is not the prior's


def test_with_auth_on_openrlhfs_keyless_http_client_is_refused(auth_server, tmp_path: Path) -> None:
    results = run_openrlhf(CURRENT, [auth_server.url + "/get_reward"], rollout([None], n=4), tmp_path)
    assert all(r["reward"] is None for r in results)  # 401 on every retry: OpenRLHF logs it, reward None


def test_labels_carry_per_sample_users_through_get_reward(micro_url: str, tmp_path: Path) -> None:
    with MicroClient(micro_url) as mc:
        teach(mc, "carol")
    users = ["carol", "dave", None]
    samples = rollout(users)
    results = run_openrlhf(CURRENT, [micro_url + "/get_reward"], samples, tmp_path)
    per_sample_users = [users[i % 3] for i in range(len(samples))]
    assert rewards_of(results) == pytest.approx(scores_of(micro_url, samples, per_sample_users), abs=1e-3)
    assert rewards_of(results)[0] != pytest.approx(scores_of(micro_url, samples[:1], [None])[0], abs=1e-4)


def test_extra_logs_carry_weight_entropy_and_head_rewards(micro_url: str, tmp_path: Path) -> None:
    results = run_openrlhf(CURRENT, [micro_url + "/get_reward"], rollout(["erin"], n=4), tmp_path)
    assert_valid_for_openrlhf(results)
    assert all("weight_entropy" in r["extra_logs"] and "head_reward_0" in r["extra_logs"] for r in results)


def test_empty_shards_of_openrlhf_0_10_answer_so_every_sample_gets_its_reward(micro_url: str, tmp_path: Path) -> None:
    results = run_openrlhf(SHARDING, [micro_url + "/get_reward"] * 2, rollout([None], n=8), tmp_path)
    assert_valid_for_openrlhf(results)


def test_with_auth_on_a_read_only_key_in_the_url_gives_each_sample_its_users_reward(auth_server,
                                                                                    tmp_path: Path) -> None:
    with MicroClient(auth_server.url, auth_server.key) as mc:
        teach(mc, "frank")
    users = ["frank", "grace", None]
    samples = rollout(users)
    results = run_openrlhf(CURRENT, [f"{auth_server.url}/k/{auth_server.read_only_key}/get_reward"], samples, tmp_path)
    assert_valid_for_openrlhf(results)
    per_sample_users = [users[i % 3] for i in range(len(samples))]
    expected = scores_of(auth_server.url, samples, per_sample_users, auth_server.key)
    assert rewards_of(results) == pytest.approx(expected, abs=1e-3)
    prior = scores_of(auth_server.url, samples[:1], [None], auth_server.key)
    assert rewards_of(results)[0] != pytest.approx(prior[0], abs=1e-4)  # frank's is not the prior's


def test_with_auth_on_a_wrong_key_in_the_url_is_refused(auth_server, tmp_path: Path) -> None:
    wrong = f"{auth_server.url}/k/not-{auth_server.read_only_key}/get_reward"
    write_key = f"{auth_server.url}/k/{auth_server.key}/get_reward"  # a read+write key is refused in a URL (403)
    for url in (wrong, write_key):
        results = run_openrlhf(CURRENT, [url], rollout([None], n=4), tmp_path)
        assert all(r["reward"] is None for r in results)
