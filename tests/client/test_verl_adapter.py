"""The veRL reward functions, called the way veRL calls them (by keyword, with the extra_info
keys veRL adds), against a real server: each reward is the user's /v1/score."""

from __future__ import annotations

import asyncio

import pytest
from micro_client import MicroClient
from micro_client.adapters import verl

from tests.client.conftest import BAD, GOOD, PROMPT, teach


@pytest.fixture()
def env(micro_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MICRO_URL", micro_url)
    monkeypatch.delenv("MICRO_API_KEY", raising=False)
    return micro_url


def veRL_extra_info(user_id: str | None, prompt: object = PROMPT) -> dict:
    # naive.py adds num_turns and rollout_reward_scores to every row's extra_info
    info = {"prompt": prompt, "num_turns": None, "rollout_reward_scores": {}, "index": 0}
    return info if user_id is None else {**info, "user_id": user_id}


def test_compute_score_is_the_users_score(env: str, user_id: str) -> None:
    with MicroClient(env) as mc:
        teach(mc, user_id)
        mine = mc.score(PROMPT, [GOOD], user_id=user_id).scores[0]
        prior = mc.score(PROMPT, [GOOD]).scores[0]
    got = verl.compute_score(data_source="micro", solution_str=GOOD, ground_truth=None,
                             extra_info=veRL_extra_info(user_id))
    assert got == pytest.approx(mine, abs=1e-3) and got != pytest.approx(prior, abs=1e-4)
    assert verl.compute_score(data_source="micro", solution_str=GOOD, ground_truth=None,
                              extra_info=veRL_extra_info(None)) == pytest.approx(prior, abs=1e-3)


def test_compute_score_async_equals_sync(env: str, user_id: str) -> None:
    kwargs = {"data_source": "micro", "solution_str": BAD, "ground_truth": "", "extra_info": veRL_extra_info(user_id)}
    assert asyncio.run(verl.compute_score_async(**kwargs)) == pytest.approx(verl.compute_score(**kwargs), abs=1e-4)


def test_batched_scores_equal_single_scores_for_mixed_users(env: str, user_id: str) -> None:
    with MicroClient(env) as mc:
        teach(mc, user_id)
    chat = [{"role": "user", "content": "How do I save money?"}]
    rows = [(GOOD, veRL_extra_info(user_id)), (BAD, veRL_extra_info(user_id)), (GOOD, veRL_extra_info(None)),
            ("Budget monthly.", veRL_extra_info(user_id, chat)), (BAD, veRL_extra_info(f"{user_id}-other"))]
    batch = verl.compute_score_batch(data_sources=["micro"] * len(rows), solution_strs=[r[0] for r in rows],
                                     ground_truths=[None] * len(rows), extra_infos=[r[1] for r in rows],
                                     reward_router_address=None)
    single = [verl.compute_score(data_source="micro", solution_str=s, ground_truth=None, extra_info=i)
              for s, i in rows]
    assert batch == pytest.approx(single, abs=1e-3) and batch[0] != pytest.approx(batch[2], abs=1e-4)


def test_a_row_without_prompt_is_refused_by_name(env: str) -> None:
    with pytest.raises(ValueError, match=r"extra_info\['prompt'\]"):
        verl.compute_score(data_source="micro", solution_str=GOOD, ground_truth=None, extra_info={"user_id": "u"})
