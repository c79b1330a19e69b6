"""Users survive a model upgrade: a simulated user teaches the old model 20 labels (and states a
context); the service restarts on a new checkpoint (another version, its heads reordered and
perturbed, as a retrained model would be); on first use the user's kept labels are replayed
through the new heads, and their pairwise accuracy on held-out pairs where the heads disagree
stays within 0.02 of what it was (and well above what a reset user would get). Deleting the user erases the history."""

from __future__ import annotations

import dataclasses
import json
import random
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
import redis
import torch

from model.checkpoint import load_checkpoint, save_checkpoint
from model.paths import REPO_ROOT
from evaluation.service_process import ServiceProcess, free_port, settings_env
from service.state.records import KeySchema
from tests.helpers import TEST_REDIS_URL, make_tiny_checkpoint

pytestmark = pytest.mark.slow

N_TRAIN, N_CANDIDATES, TASTE_HEAD = 20, 160, 0
WORDS = ("formal report numbers table brief poem rhyme joke casual friendly detailed steps code example "
         "history science sport cooking travel music warning apology summary list story").split()


def upgraded_checkpoint(old: Path, new: Path, seed: int = 7) -> Path:
    """The old heads and router rows in another order, each perturbed by 2 %: another version."""
    model, config = load_checkpoint(old)
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(config.num_heads, generator=gen)
    with torch.no_grad():
        for tensor in (model.heads.weight, model.router.weight):
            tensor.copy_(tensor[order] * (1 + 0.02 * torch.randn(tensor.shape, generator=gen)))
        model.router.bias.copy_(model.router.bias[order])
    return save_checkpoint(new, model, dataclasses.replace(config, version="upgrade-2"))


def candidate_pairs(rng: random.Random) -> list[tuple[str, str, str]]:
    def sentence() -> str:
        return " ".join(rng.choice(WORDS) for _ in range(8)) + "."

    return [(f"Question {i}: tell me about {rng.choice(WORDS)}.", sentence(), sentence()) for i in range(N_CANDIDATES)]


def score(c: httpx.Client, prompt: str, a: str, b: str, user: str | None = None) -> dict:
    body = {"prompt": prompt, "responses": [a, b], "return_head_rewards": True} | ({"user_id": user} if user else {})
    reply = c.post("/v1/score", json=body)
    assert reply.status_code == 200, reply.text
    return reply.json()


def accuracy(c: httpx.Client, pairs: list[tuple[str, str, str, bool]], user: str) -> float:
    """Share of pairs whose user-weighted ranking agrees with the user's own preference."""
    return sum((score(c, p, a, b, user)["p_first_preferred"] > 0.5) == a_wins for p, a, b, a_wins in pairs) / len(pairs)


def test_a_user_keeps_their_accuracy_after_a_model_upgrade_and_delete_erases_the_history(tmp_path: Path):
    old_ckpt = make_tiny_checkpoint(tmp_path / "old", version="upgrade-1")
    new_ckpt = upgraded_checkpoint(old_ckpt, tmp_path / "new")
    prefix, user, migrated = f"up-{uuid.uuid4().hex[:8]}", f"taught-{uuid.uuid4().hex[:6]}", "migrated"
    settings = {"redis_url": TEST_REDIS_URL, "key_prefix": prefix, "torch_threads": 2, "max_wait_ms": 2}
    try:
        with ServiceProcess(tmp_path / "old.log", checkpoint=old_ckpt, **settings) as old, \
                httpx.Client(base_url=old.url, timeout=60) as c:
            labelled = []  # (prompt, a, b, user prefers a, the heads disagree on the pair)
            for prompt, a, b in candidate_pairs(random.Random(0)):
                rewards = score(c, prompt, a, b)["head_rewards"]
                margins = [ra - rb for ra, rb in zip(*rewards, strict=True)]
                labelled.append((prompt, a, b, margins[TASTE_HEAD] > 0, min(margins) < 0 < max(margins)))
            train, rest = labelled[:N_TRAIN], labelled[N_TRAIN:]
            held_out = [(p, a, b, wins) for p, a, b, wins, disputed in rest if disputed]
            assert len(held_out) >= 50, "too few pairs where the heads disagree"
            assert c.put(f"/v1/users/{user}/context", json={"context": "Numbers and tables."}).status_code == 200
            for taught in (user, migrated):
                for i, (prompt, a, b, a_wins, _) in enumerate(train):
                    chosen, rejected = (a, b) if a_wins else (b, a)
                    reply = c.post("/v1/feedback", json={"user_id": taught, "prompt": prompt, "chosen": chosen,
                                                         "rejected": rejected, "feedback_id": f"t{i}"})
                    assert reply.status_code == 200, reply.text
            before = accuracy(c, held_out, user)

        # the migration command rebuilds users ahead of traffic (here one; the other is rebuilt on first use)
        env = settings_env({"checkpoint": new_ckpt, **settings}, free_port())
        done = subprocess.run([sys.executable, "-m", "service.ops.migrate_users", "--users", migrated], env=env,
                              cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        assert json.loads(done.stdout.splitlines()[-1]) == {"found": 1, "rebuilt": 1, "current": 0, "failed": 0}
        new_keys = KeySchema(prefix, "upgrade-2").user(migrated)
        assert redis.Redis.from_url(TEST_REDIS_URL).hget(new_keys.state, "n") == str(N_TRAIN).encode()

        with ServiceProcess(tmp_path / "new.log", checkpoint=new_ckpt, **settings) as new, \
                httpx.Client(base_url=new.url, timeout=60) as c:
            after = accuracy(c, held_out, user)  # the first use rebuilds the user under the new heads
            reset = sum((score(c, p, a, b)["p_first_preferred"] > 0.5) == w for p, a, b, w in held_out) / len(held_out)
            state = c.get(f"/v1/users/{user}").json()
            assert state["n_feedback"] == N_TRAIN and state["context"] == "Numbers and tables."
            print(f"upgrade: {len(held_out)} held-out pairs, accuracy before {before:.3f} after {after:.3f} "
                  f"reset {reset:.3f}")
            assert abs(after - before) <= 0.02, (before, after)
            assert after > reset + 0.1, (before, after, reset)  # what a reset user would have got
            assert 'micro_users_rebuilt_total{result="rebuilt"} 1.0' in c.get("/metrics").text  # on first use
            assert c.get(f"/v1/users/{migrated}").json()["n_feedback"] == N_TRAIN

            assert c.delete(f"/v1/users/{user}").status_code in (200, 204)
            keys = KeySchema(prefix, "upgrade-2").user(user)
            assert not redis.Redis.from_url(TEST_REDIS_URL).exists(keys.history, keys.context, keys.state)
            assert c.get(f"/v1/users/{user}").status_code == 404  # nothing left to rebuild from
    finally:
        client = redis.Redis.from_url(TEST_REDIS_URL)
        stale = list(client.scan_iter(match=f"{prefix}:*"))
        if stale:
            client.delete(*stale)
