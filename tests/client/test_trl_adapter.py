"""The TRL GRPO reward functions, called as GRPOTrainer._calculate_rewards calls them (prompts,
completions, completion_ids, every other column as a list, trainer_state, log_extra, log_metric;
async ones awaited on a loop of their own), against a real server."""

from __future__ import annotations

import asyncio

import pytest
from micro_client import MicroClient
from micro_client.adapters import trl

from tests.client.conftest import BAD, GOOD, PROMPT, teach

G = 4  # completions per prompt, as GRPO's num_generations


@pytest.fixture()
def env(micro_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MICRO_URL", micro_url)
    monkeypatch.delenv("MICRO_API_KEY", raising=False)
    return micro_url


def grpo_kwargs(n: int, users: list[str]) -> dict:
    return {"completion_ids": [[1, 2, 3]] * n, "user_id": users, "trainer_state": object(),
            "log_extra": lambda *a, **k: None, "log_metric": lambda *a, **k: None}


def expected(micro_url: str, prompts: list, texts: list[str], users: list[str]) -> list[float]:
    with MicroClient(micro_url) as mc:
        return [mc.score(p, [t], user_id=u).scores[0] for p, t, u in zip(prompts, texts, users, strict=True)]


def test_standard_format_rewards_are_each_users_scores(env: str, user_id: str) -> None:
    with MicroClient(env) as mc:
        teach(mc, user_id)
    prompts = [PROMPT] * G + ["How do I save money?"] * G
    completions = [GOOD, BAD, "Watch videos.", GOOD, "Budget.", "Spend.", GOOD, BAD]
    users = [user_id] * G + ["someone-else"] * G
    got = trl.reward(prompts=prompts, completions=completions, **grpo_kwargs(len(prompts), users))
    assert got == pytest.approx(expected(env, prompts, completions, users), abs=1e-3)
    assert got[0] == got[3] and got[0] != got[1]  # one group, same completion, same reward


def test_conversational_format_and_async_variant_agree(env: str, user_id: str) -> None:
    prompts = [[{"role": "user", "content": PROMPT}]] * G
    completions = [[{"role": "assistant", "content": c}] for c in (GOOD, BAD, GOOD, "Eat out.")]
    users = [user_id, user_id, "other-user", "other-user"]
    sync = trl.reward(prompts=prompts, completions=completions, **grpo_kwargs(G, users))

    async def on_trls_loop() -> list[float]:
        return await trl.reward_async(prompts=prompts, completions=completions, **grpo_kwargs(G, users))

    assert asyncio.run(on_trls_loop()) == pytest.approx(sync, abs=1e-4)
    texts = [c[0]["content"] for c in completions]
    assert sync == pytest.approx(expected(env, prompts, texts, users), abs=1e-3)


def test_make_reward_reads_the_named_column_and_logs_under_its_name(micro_url: str, user_id: str) -> None:
    func = trl.make_reward(micro_url, user_column="customer", name="micro_personal")
    assert func.__name__ == "micro_personal" and asyncio.iscoroutinefunction(func)
    got = asyncio.run(func(prompts=[PROMPT], completions=[GOOD], completion_ids=[[1]], customer=[user_id],
                           trainer_state=None))
    assert got == pytest.approx(expected(micro_url, [PROMPT], [GOOD], [user_id]), abs=1e-3)
