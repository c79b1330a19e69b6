"""One prompt, two forms, over HTTP: a label given with a plain prompt and one given with the same
prompt as a single user message (after a system message) leave the same weights, and move the
other form's rewards by the same amount; a dialogue keeps its turns (model/text_format.py)."""

from __future__ import annotations

import uuid

import httpx
import pytest

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
