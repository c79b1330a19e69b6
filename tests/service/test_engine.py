"""service.inference.engine.RewardEngine on tiny hand-set heads (K = 3, D = 8), a hashing embedder and an
in-memory store (tests/service/engine_doubles.py): no backbone, no Redis. Expected values are
computed by hand from the heads' definition: reward k = coordinate k of a response's embedding,
router logit k = coordinate 3 + k of the router input + bias k."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
import torch
import torch.nn.functional as F

from model.features import router_text
from model.routing import NEUTRAL_CONTEXT, RoutingConfig
from service.inference.engine import RewardEngine
from service.core.errors import StoreUnavailable
from service.state.user_store import UserState
from tests.service.engine_doubles import (
    feedback_one,
    next_query_one,
    score_one,
    ROUTER_BIAS,
    HashingEmbedder,
    InMemoryStore,
    K,
    pair_text,
    tiny_heads,
    unit,
)

T = TypeVar("T")
PROMPT, CHOSEN, REJECTED = "Name a prime number.", "Seven is prime.", "Nine is prime."
CONTEXT, OTHER_CONTEXT = "Answers like a business report.", "Answers like a poem."
ROUTING = RoutingConfig(tau=1.0, eta=1.0)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def make_engine(fixed: dict[str, torch.Tensor] | None = None) -> tuple[RewardEngine, HashingEmbedder, InMemoryStore]:
    embedder, store = HashingEmbedder(fixed), InMemoryStore()
    return RewardEngine(tiny_heads(), ROUTING, embedder, embedder, store, "tiny-engine-1"), embedder, store  # type: ignore[arg-type]


# ---- the model by hand ---------------------------------------------------------------------
def hand_rewards(embedder: HashingEmbedder, texts: list[str]) -> torch.Tensor:
    """(N, K): head k reads coordinate k."""
    return torch.stack([embedder.vector(t)[:K] for t in texts])


def hand_logits(embedder: HashingEmbedder, router_input: str) -> torch.Tensor:
    """(K,): router logit k = coordinate K + k + bias k."""
    return embedder.vector(router_input)[K:2 * K] + torch.tensor(ROUTER_BIAS)


def hand_context_offset(embedder: HashingEmbedder, context: str) -> torch.Tensor:
    """(K,) the exact Hedge step of the pseudo-label "context preferred to the neutral statement", centred."""
    r = hand_rewards(embedder, [context, NEUTRAL_CONTEXT])
    c = F.logsigmoid(r[0] - r[1])  # -L_k
    return c - c.mean()


def close(got: list[float] | list[list[float]], want: torch.Tensor) -> bool:
    return torch.allclose(torch.tensor(got), want.float(), atol=1e-5)


# ---- score -----------------------------------------------------------------------------------
def test_score_for_a_new_user_mixes_the_head_rewards_with_the_prior_weights():
    engine, embedder, _ = make_engine()
    responses = ["Two.", "Seven is prime.", "Nine is not prime.", "Eleven."]
    got = run(score_one(engine, prompt=PROMPT, responses=responses, user_id="new-user", with_head_rewards=True))

    rewards = hand_rewards(embedder, [pair_text(PROMPT, r) for r in responses])  # (N, K)
    weights = torch.softmax(hand_logits(embedder, PROMPT), -1)  # (K,)
    scores = rewards @ weights
    assert got.weights_source == "prior"
    assert close(got.head_rewards, rewards) and close(got.weights, weights) and close(got.scores, scores)
    assert got.ranking == torch.argsort(scores, descending=True).tolist()
    assert got.p_first_preferred is None  # only for a pair
    assert got.truncated == [False] * len(responses)


def test_score_of_a_pair_gives_the_bradley_terry_probability_of_the_scores():
    engine, embedder, _ = make_engine()
    got = run(score_one(engine, prompt=PROMPT, responses=[CHOSEN, REJECTED]))

    r = hand_rewards(embedder, [pair_text(PROMPT, CHOSEN), pair_text(PROMPT, REJECTED)])
    weights = torch.softmax(hand_logits(embedder, PROMPT), -1)
    scores = r @ weights  # (2,)
    assert got.p_first_preferred == pytest.approx(float(torch.sigmoid(scores[0] - scores[1])), abs=1e-6)
    assert (got.p_first_preferred > 0.5) == (got.ranking[0] == 0)


def test_score_of_a_known_user_adds_the_stored_offset_to_the_router_logits():
    engine, embedder, store = make_engine()
    store.states["alice"] = UserState(offset=[1.5, -2.0, 0.5], n_feedback=3, context=None, version=3, updated_at=None)
    got = run(score_one(engine, prompt=PROMPT, responses=[CHOSEN, REJECTED], user_id="alice"))

    assert got.weights_source == "user"
    assert close(got.weights, torch.softmax(hand_logits(embedder, PROMPT) + torch.tensor([1.5, -2.0, 0.5]), -1))


def test_score_with_the_store_down_uses_the_prior_and_says_so():
    engine, _, store = make_engine()
    store.states["alice"] = UserState(offset=[3.0, -3.0, 0.0], n_feedback=1, context=None, version=1, updated_at=None)
    prior = run(score_one(engine, prompt=PROMPT, responses=[CHOSEN, REJECTED]))
    store.down = True
    got = run(score_one(engine, prompt=PROMPT, responses=[CHOSEN, REJECTED], user_id="alice"))

    assert got.weights_source == "prior_degraded"
    assert got.weights == pytest.approx(prior.weights) and got.scores == pytest.approx(prior.scores)


# ---- feedback --------------------------------------------------------------------------------
HEAD0_LIKES_CHOSEN = {  # head 0 prefers the chosen response, head 1 the rejected one, head 2 has no view
    pair_text(PROMPT, CHOSEN): unit(0, 2.0),
    pair_text(PROMPT, REJECTED): unit(1, 2.0),
}


def test_feedback_sends_the_prior_logits_and_per_head_losses_to_the_store():
    engine, embedder, store = make_engine(HEAD0_LIKES_CHOSEN)
    run(feedback_one(engine, user_id="bob", prompt=PROMPT, chosen=CHOSEN, rejected=REJECTED))

    r = hand_rewards(embedder, [pair_text(PROMPT, CHOSEN), pair_text(PROMPT, REJECTED)])
    [(prior_logits, losses)] = store.applied_terms
    assert close(prior_logits, hand_logits(embedder, PROMPT))
    assert close(losses, -F.logsigmoid(r[0] - r[1]))


def test_feedback_moves_weight_toward_the_head_that_agrees_with_the_label():
    engine, _, _ = make_engine(HEAD0_LIKES_CHOSEN)
    shown = run(score_one(engine, prompt=PROMPT, responses=[CHOSEN, REJECTED], user_id="bob"))
    outcome = run(feedback_one(engine, user_id="bob", prompt=PROMPT, chosen=CHOSEN, rejected=REJECTED))

    assert outcome.applied and outcome.n_feedback == 1
    assert outcome.weights_before == pytest.approx(shown.weights, abs=1e-6)
    assert outcome.weights_after[0] > outcome.weights_before[0]  # agreed with the label
    assert outcome.weights_after[1] < outcome.weights_before[1]  # disagreed
    after = run(score_one(engine, prompt=PROMPT, responses=[CHOSEN, REJECTED], user_id="bob"))
    assert after.weights_source == "user"
    assert after.weights == pytest.approx(outcome.weights_after, abs=1e-6)
    assert after.p_first_preferred > shown.p_first_preferred


def test_feedback_twice_with_same_id_applies_once():
    engine, _, store = make_engine(HEAD0_LIKES_CHOSEN)
    first = run(feedback_one(engine, user_id="bob", prompt=PROMPT, chosen=CHOSEN, rejected=REJECTED, feedback_id="f-1"))
    again = run(feedback_one(engine, user_id="bob", prompt=PROMPT, chosen=CHOSEN, rejected=REJECTED, feedback_id="f-1"))

    assert first.applied and not again.applied
    assert again.weights_after == first.weights_after and again.n_feedback == 1
    assert store.states["bob"].n_feedback == 1 and len(store.applied_terms) == 1


def test_feedback_with_new_ids_keeps_learning():
    engine, _, store = make_engine(HEAD0_LIKES_CHOSEN)
    outcomes = [run(feedback_one(engine, user_id="bob", prompt=PROMPT, chosen=CHOSEN, rejected=REJECTED,
                                    feedback_id=f"f-{i}")) for i in range(3)]

    assert [o.n_feedback for o in outcomes] == [1, 2, 3] and store.states["bob"].n_feedback == 3
    assert outcomes[0].weights_after[0] < outcomes[1].weights_after[0] < outcomes[2].weights_after[0]


def test_feedback_with_the_store_down_raises_store_unavailable():
    engine, _, store = make_engine(HEAD0_LIKES_CHOSEN)
    store.down = True
    with pytest.raises(StoreUnavailable):
        run(feedback_one(engine, user_id="bob", prompt=PROMPT, chosen=CHOSEN, rejected=REJECTED))


# ---- stated context --------------------------------------------------------------------------
HEAD2_LIKES_CONTEXT = {
    PROMPT: unit(K + 0, 0.5),  # router inputs, hand-set: the router reads coordinates K..2K-1
    router_text(PROMPT, CONTEXT): unit(K + 1, 0.5),
    CONTEXT: unit(2, 4.0),  # head 2 prefers the context to the neutral statement
    NEUTRAL_CONTEXT: unit(0, 4.0) + unit(1, 4.0),  # heads 0 and 1 prefer the neutral statement
}


def test_stated_context_is_read_by_the_router_and_shifts_weight_to_the_head_that_prefers_it():
    engine, embedder, _ = make_engine(HEAD2_LIKES_CONTEXT)
    plain = run(score_one(engine, prompt=PROMPT, responses=[CHOSEN, REJECTED]))
    stated = run(score_one(engine, prompt=PROMPT, responses=[CHOSEN, REJECTED], context=CONTEXT))

    assert router_text(PROMPT, CONTEXT) in embedder.router_texts
    logits = hand_logits(embedder, router_text(PROMPT, CONTEXT)) + hand_context_offset(embedder, CONTEXT)
    want = torch.softmax(logits, -1)
    assert close(stated.weights, want)
    assert stated.weights[2] > plain.weights[2]
    r = hand_rewards(embedder, [pair_text(PROMPT, CHOSEN), pair_text(PROMPT, REJECTED)])
    assert close(stated.scores, r @ want)  # the context's own texts are not scored as responses


def test_stored_context_applies_like_a_request_context_which_overrides_it():
    engine, _, _ = make_engine(HEAD2_LIKES_CONTEXT)
    run(engine.set_context("carol", CONTEXT))
    stored = run(score_one(engine, prompt=PROMPT, responses=[CHOSEN, REJECTED], user_id="carol"))
    asked = run(score_one(engine, prompt=PROMPT, responses=[CHOSEN, REJECTED], context=CONTEXT))
    overridden = run(score_one(engine, prompt=PROMPT, responses=[CHOSEN, REJECTED], user_id="carol", context=OTHER_CONTEXT))
    other = run(score_one(engine, prompt=PROMPT, responses=[CHOSEN, REJECTED], context=OTHER_CONTEXT))

    assert stored.weights_source == "user"
    assert stored.weights == pytest.approx(asked.weights, abs=1e-6)
    assert overridden.weights == pytest.approx(other.weights, abs=1e-6)
    assert overridden.weights != pytest.approx(stored.weights, abs=1e-3)


def test_feedback_under_a_stated_context_starts_from_the_weights_the_user_was_shown():
    engine, _, _ = make_engine({**HEAD2_LIKES_CONTEXT, **HEAD0_LIKES_CHOSEN})
    run(engine.set_context("carol", CONTEXT))
    shown = run(score_one(engine, prompt=PROMPT, responses=[CHOSEN, REJECTED], user_id="carol"))
    outcome = run(feedback_one(engine, user_id="carol", prompt=PROMPT, chosen=CHOSEN, rejected=REJECTED))

    assert outcome.weights_before == pytest.approx(shown.weights, abs=1e-6)
    after = run(score_one(engine, prompt=PROMPT, responses=[CHOSEN, REJECTED], user_id="carol"))
    assert after.weights == pytest.approx(outcome.weights_after, abs=1e-6)
