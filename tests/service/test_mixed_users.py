"""Many requests with their own users in one call (RewardEngine.score, the one scoring path of
/v1/score, /v1/score:batch and /get_reward) on the engine's stand-ins (tests/service/engine_doubles.py):
each request gets exactly what it gets alone; one embedding call for the whole call; each distinct
user read once; OpenRLHF's extra_logs (service/api/routes/compat.py) one float per query."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
import torch

from model.losses import entropy
from model.routing import RoutingConfig
from service.api.routes.compat import extra_logs
from service.api.schemas import RewardRequest
from service.inference.engine import RewardEngine
from service.inference.scoring import ScoreItem
from service.state.records import UserState
from tests.service.engine_doubles import HashingEmbedder, InMemoryStore, K, score_one, tiny_heads

PROMPTS = ["Name a prime number.", "Plan a trip to Rome.", "Explain tides."]
RESPONSES = ["Seven is prime.", "Nine is prime.", "Go in spring, book early.", "The moon pulls the sea."]
CONTEXT = "Answers like a business report."


class CountingEmbedder(HashingEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.embed_calls = 0

    async def embed(self, router_texts: Sequence[str], pair_texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        self.embed_calls += 1
        return await super().embed(router_texts, pair_texts)


class CountingStore(InMemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads: list[str] = []

    async def get(self, user_id: str) -> UserState | None:
        self.reads.append(user_id)
        return await super().get(user_id)


def make_engine() -> tuple[RewardEngine, CountingEmbedder, CountingStore]:
    embedder, store = CountingEmbedder(), CountingStore()
    store.states["alice"] = UserState([1.5, -0.5, -1.0], 3, None, 3, None)
    store.states["bob"] = UserState([-1.0, 0.0, 1.0], 2, CONTEXT, 3, None)  # a stored context
    routing = RoutingConfig(tau=1.0, eta=1.0)
    engine = RewardEngine(tiny_heads(), routing, embedder, embedder, store, "tiny-1")  # type: ignore[arg-type]
    return engine, embedder, store


WHO = [("alice", None), ("bob", None), (None, None), ("alice", "Answers like a poem."), ("carol", None), ("bob", None)]


def samples(prompts: Sequence[str], responses: Sequence[str], who) -> list[ScoreItem]:
    """One request of one response per sample, as /get_reward makes them."""
    return [ScoreItem([r], prompt=p, user_id=u, context=c, with_head_rewards=True)
            for p, r, (u, c) in zip(prompts, responses, who, strict=True)]


def test_mixed_users_get_each_their_own_score_in_one_embedding_call():
    engine, embedder, store = make_engine()
    prompts = [PROMPTS[i % 3] for i in range(len(WHO))]
    responses = [RESPONSES[i % 4] for i in range(len(WHO))]
    result = asyncio.run(engine.score(samples(prompts, responses, WHO)))
    assert embedder.embed_calls == 1
    assert sorted(store.reads) == ["alice", "alice", "bob", "carol"]  # one read per distinct (user, context)
    for i, (user, context) in enumerate(WHO):
        alone = asyncio.run(score_one(engine, responses=[responses[i]], prompt=prompts[i], user_id=user,
                                      context=context, with_head_rewards=True))
        assert result[i].scores[0] == pytest.approx(alone.scores[0], abs=1e-6)
        assert result[i].head_rewards[0] == pytest.approx(alone.head_rewards[0], abs=1e-6)
        expected_entropy = float(entropy(torch.tensor(alone.weights).log()))
        assert result[i].weight_entropy == pytest.approx(expected_entropy, abs=1e-5)
    assert [r.weights_source == "user" for r in result] == [True, True, False, True, False, True]
    prior = asyncio.run(score_one(engine, responses=[responses[0]], prompt=prompts[0]))
    assert result[0].scores[0] != pytest.approx(prior.scores[0], abs=1e-4)  # alice's is not the prior's


def test_extra_logs_have_one_float_per_query_under_each_key_and_none_for_no_query():
    engine, _, _ = make_engine()
    result = asyncio.run(engine.score(samples(["a", "c"], ["b", "d"], [("alice", None), (None, None)])))
    logs = extra_logs(result)
    assert set(logs) == {"truncated", "personalized", "weight_entropy", *(f"head_reward_{k}" for k in range(K))}
    assert all(len(v) == 2 and all(isinstance(x, float) for x in v) for v in logs.values())
    assert logs["personalized"] == [1.0, 0.0]
    assert [logs[f"head_reward_{k}"][1] for k in range(K)] == pytest.approx(result[1].head_rewards[0])
    empty = asyncio.run(engine.score([]))
    assert extra_logs(empty) == {} and empty == []


def test_many_requests_equal_one_score_per_request_in_one_embedding_call():
    engine, embedder, _ = make_engine()
    items = [ScoreItem(responses=RESPONSES[:2], prompt=PROMPTS[0], user_id="alice", with_head_rewards=True),
             ScoreItem(responses=RESPONSES, prompt=PROMPTS[1], user_id="bob"),
             ScoreItem(responses=RESPONSES[2:3], prompt=PROMPTS[2], context=CONTEXT)]
    many = asyncio.run(engine.score(items))
    assert embedder.embed_calls == 1
    for item, got in zip(items, many, strict=True):
        alone = asyncio.run(score_one(engine, responses=item.responses, prompt=item.prompt, user_id=item.user_id,
                                      context=item.context, with_head_rewards=item.with_head_rewards))
        assert got.scores == pytest.approx(alone.scores, abs=1e-6) and got.ranking == alone.ranking
        assert got.weights == pytest.approx(alone.weights, abs=1e-6) and got.weights_source == alone.weights_source
        assert (got.head_rewards is None) == (alone.head_rewards is None)
        assert (got.p_first_preferred is None) == (alone.p_first_preferred is None)


@pytest.mark.parametrize(
    ("label", "user", "context"),
    [
        ({"user_id": "u-1", "context": "short"}, "u-1", "short"),
        ('{"user_id": "u-1"}', "u-1", None),
        (' {"context": "short", "answer": 42}', None, "short"),
        ("42", None, None),
        ("{not json", None, None),
        (None, None, None),
        (["u-1"], None, None),
    ],
)
def test_a_label_names_its_samples_user_and_context_when_it_holds_an_object(label, user, context):
    parsed = RewardRequest(query=["q"], labels=[label]).labels[0]
    assert (parsed.user_id, parsed.context) == (user, context)
