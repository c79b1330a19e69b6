"""One prompt, two forms, over HTTP: a label given with a plain prompt and one given with the same
prompt as a single user message (after a system message) leave the same weights, and move the
other form's rewards by the same amount; a dialogue keeps its turns (model/text_format.py); users
labelled before, with chat prompts read the old way, are rebuilt by migrate_users --prompt-forms."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
import redis

from evaluation.service_process import free_port, settings_env
from model.paths import REPO_ROOT
from service.state.records import KeySchema
from tests.helpers import TEST_REDIS_URL

pytestmark = pytest.mark.slow

PROMPT = "How should I learn to cook?"
CHOSEN, REJECTED = "Start with three simple recipes and cook each twice a week.", "Cooking is an ancient art."
RESPONSES = [CHOSEN, REJECTED, "Watch a few videos first."]
SYSTEM = {"role": "system", "content": "You are a helpful assistant."}
AS_MESSAGES = [SYSTEM, {"role": "user", "content": PROMPT}]
FORMS = {"plain": {"prompt": PROMPT}, "message": {"messages": [{"role": "user", "content": PROMPT}]},
         "system-message": {"messages": AS_MESSAGES}}


def score(client: httpx.Client, form: dict, user: str | None = None) -> dict:
    body = {**form, "responses": RESPONSES, **({"user_id": user} if user else {})}
    reply = client.post("/v1/score", json=body)
    assert reply.status_code == 200, reply.text
    return reply.json()


def label(client: httpx.Client, form: dict, user: str) -> dict:
    reply = client.post("/v1/feedback", json={"user_id": user, **form, "chosen": CHOSEN, "rejected": REJECTED})
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_a_label_in_either_form_leaves_the_same_weights_and_moves_the_other_form_equally(client: httpx.Client):
    prior = {name: score(client, form) for name, form in FORMS.items()}
    for name in FORMS:  # the prior reads every form as one text
        assert prior[name]["scores"] == pytest.approx(prior["plain"]["scores"], abs=1e-6)
    users = {name: f"u-form-{name}-{uuid.uuid4().hex[:8]}" for name in FORMS}
    after = {name: label(client, form, users[name])["weights_after"] for name, form in FORMS.items()}
    for name in FORMS:
        assert after[name] == pytest.approx(after["plain"], abs=1e-6)
    assert after["plain"] != pytest.approx(prior["plain"]["weights"], abs=1e-4)  # the label did move them
    for labelled in FORMS:  # each user's rewards, read in every form, moved by the same amount
        for read in FORMS:
            got = score(client, FORMS[read], users[labelled])
            assert got["weights"] == pytest.approx(after["plain"], abs=1e-6)
            moved = [a - b for a, b in zip(got["scores"], prior[read]["scores"])]
            same = [a - b for a, b in zip(score(client, FORMS["plain"], users["plain"])["scores"],
                                          prior["plain"]["scores"])]
            assert moved == pytest.approx(same, abs=1e-6)
            assert max(map(abs, moved)) > 1e-4


def test_a_dialogue_keeps_its_turns(client: httpx.Client):
    dialogue = [{"role": "user", "content": PROMPT}, {"role": "assistant", "content": "Do you like baking?"},
                {"role": "user", "content": "Not really."}]
    turns = score(client, {"messages": dialogue})["scores"]
    assert turns != pytest.approx(score(client, {"prompt": PROMPT})["scores"], abs=1e-4)
    assert score(client, {"messages": [SYSTEM, *dialogue]})["scores"] == pytest.approx(turns, abs=1e-6)


def test_migration_rebuilds_users_labelled_with_chat_prompts_read_the_old_way(
        client: httpx.Client, tiny_checkpoint: Path, key_prefix: str):
    """A state built before this release from ``[system, user]`` labels (here: its offset replaced,
    as the old text would have left it) is rebuilt from the kept history by
    ``migrate_users --prompt-forms``; a user labelled in plain text is left alone."""
    plain, chat = f"u-plain-{uuid.uuid4().hex[:8]}", f"u-chat-{uuid.uuid4().hex[:8]}"
    label(client, FORMS["plain"], plain)
    label(client, FORMS["system-message"], chat)
    store = redis.Redis.from_url(TEST_REDIS_URL)
    state_key = KeySchema(key_prefix, "tiny-1").user(chat).state
    k = len(json.loads(store.hget(state_key, "offset")))
    store.hset(state_key, "offset", json.dumps([0.5] + [-0.5 / (k - 1)] * (k - 1)))  # the old text's weights
    assert score(client, FORMS["plain"], chat)["weights"] != pytest.approx(
        score(client, FORMS["plain"], plain)["weights"], abs=1e-4)
    env = settings_env({"checkpoint": tiny_checkpoint, "redis_url": TEST_REDIS_URL, "key_prefix": key_prefix},
                       free_port())
    done = subprocess.run([sys.executable, "-m", "service.ops.migrate_users", "--prompt-forms", "--users", plain, chat],
                          env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.splitlines()[-1]) == {"found": 2, "rebuilt": 1, "current": 1, "failed": 0,
                                                          "prompt_forms": 1, "longer_than_history": 0}
    assert score(client, FORMS["plain"], chat)["weights"] == pytest.approx(
        score(client, FORMS["plain"], plain)["weights"], abs=1e-6)
    assert client.get(f"/v1/users/{chat}").json()["n_feedback"] == 1
