"""AsyncMicroClient against a real server: the same answers as the sync client, concurrently."""

from __future__ import annotations

import asyncio

import pytest
from micro_client import AsyncMicroClient, FeedbackItem, MicroClient, ScoreItem

from tests.client.conftest import BAD, GOOD, PROMPT, teach


def test_concurrent_async_scores_equal_sync_scores(micro_url: str, user_id: str) -> None:
    with MicroClient(micro_url) as sync:
        teach(sync, user_id, repeats=1)
        expected = [sync.score(PROMPT, [GOOD, BAD], user_id=u).scores for u in (user_id, None)]

    async def go() -> list[list[float]]:
        async with AsyncMicroClient(micro_url) as client:
            results = await asyncio.gather(*(client.score(PROMPT, [GOOD, BAD], user_id=u)
                                             for u in [user_id, None] * 8))
            return [r.scores for r in results]

    got = asyncio.run(go())
    for i, scores in enumerate(got):
        assert scores == pytest.approx(expected[i % 2], abs=1e-4)


def test_async_feedback_bulk_and_user_lifecycle(micro_url: str, user_id: str) -> None:
    async def go() -> None:
        async with AsyncMicroClient(micro_url) as client:
            first = await client.feedback(user_id, PROMPT, GOOD, BAD)
            assert first.applied and first.feedback_id
            assert not (await client.feedback(user_id, PROMPT, GOOD, BAD, feedback_id=first.feedback_id)).applied
            bulk = await client.bulk_feedback(user_id, [FeedbackItem(PROMPT, GOOD, BAD)])
            assert bulk.via == "batch" and bulk.results[0].n_feedback == 2
            assert (await client.get_user(user_id)).n_feedback == 2
            ranked = await client.rank(PROMPT, [BAD, GOOD], user_id=user_id)
            assert ranked[0].score >= ranked[1].score
            many = await client.score_many([ScoreItem(PROMPT, [GOOD], user_id)] * 3)
            assert len({r.scores[0] for r in many}) == 1
            query = await client.next_query(user_id, PROMPT, [GOOD, BAD])
            assert sorted(query.pair) == [0, 1]
            reward = await client.get_reward([PROMPT + GOOD], [PROMPT], user_id=user_id)
            assert reward.rewards == pytest.approx(many[0].scores, abs=1e-3)
            await client.delete_user(user_id)

    asyncio.run(go())
