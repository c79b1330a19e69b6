"""The service logic between the routes and the model: personalised scoring, feedback with
the online routing update, user state (OpenRLHF rewards: service/rewards.py; many requests in
one: service/score_many.py). No HTTP here; plain values in and out.
It orchestrates (embedder/batcher -> model -> store); every tensor operation is a call into
model.personal_scoring.

Shapes: N responses, K heads, D embedding size.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

from model import personal_scoring
from model.backbone import Message
from model.features import router_text
from model.heads import MixtureRewardModel
from model.losses import entropy
from model.routing import NEUTRAL_CONTEXT, RoutingConfig
from service import metrics
from service.active_users import ActiveUsers
from service.embedder import Embedder
from service.errors import ContextConflict, StoreUnavailable, UserNotFound
from service.labels import Label
from service.store import ContextChanged, FeedbackOutcome, Snapshot, UserState, UserStore

log = logging.getLogger("service.engine")
CONTEXT_RETRIES = 3  # a feedback racing a context change is recomputed this many times


@dataclass(frozen=True)
class Personal:
    offset: torch.Tensor | None  # (K,) or None for the prior
    context: str | None  # what the router reads before the prompt
    source: str  # user | prior | prior_degraded


@dataclass(frozen=True)
class Scored:
    scores: list[float]  # (N,)
    ranking: list[int]  # (N,) indices, best first
    weights: list[float]  # (K,)
    weights_source: str
    p_first_preferred: float | None
    head_rewards: list[list[float]] | None  # (N, K)
    truncated: list[bool]  # (N,)


@dataclass(frozen=True)
class NextQuery:
    pair: tuple[int, int]  # indices of the two responses to ask about
    expected_gain: float  # routing.active_criterion's value: expected weight-entropy drop or label-head information
    weights: list[float]  # (K,) the user's current weights for this prompt
    weights_source: str


@dataclass(frozen=True)
class Embedded:
    person: Personal
    prompt_emb: torch.Tensor  # (1, D) router input
    pair_emb: torch.Tensor  # (N, D) responses
    offset: torch.Tensor | None  # (K,) user offset + stated-context offset, None for the plain prior
    truncated: list[bool]  # (N,)


def context_texts(context: str | None) -> list[str]:
    """Texts embedded beside the responses when a context is stated: it and the neutral statement."""
    return [context, NEUTRAL_CONTEXT] if context else []


class StateReader(Protocol):
    """Reads a user's snapshot, rebuilding it first when it was kept under another model version
    (service/user_history.py UserHistory)."""

    async def snapshot(self, user_id: str, feedback_ids: Sequence[str] = ()) -> Snapshot: ...


class RewardEngine:
    def __init__(
        self,
        model: MixtureRewardModel,
        routing: RoutingConfig,
        embedder: Embedder,
        store: UserStore,
        model_version: str,
        history: StateReader | None = None,
    ) -> None:
        self.model, self.routing, self.embedder, self.store = model, routing, embedder, store
        self.model_version = model_version
        self.history = history  # rebuilds a user's state from the kept history on first use (model upgrade)
        self.active_users = ActiveUsers()
        metrics.ACTIVE_USERS.set_function(self.active_users.count)

    # ---- scoring --------------------------------------------------------------------------
    async def score(
        self,
        *,
        responses: Sequence[str],
        prompt: str | None = None,
        messages: Sequence[Message] | None = None,
        user_id: str | None = None,
        context: str | None = None,
        with_head_rewards: bool = False,
    ) -> Scored:
        req = await self._embedded(user_id, context, prompt, messages, responses)
        scored = personal_scoring.score_responses(self.model, req.prompt_emb, req.pair_emb, req.offset)
        metrics.WEIGHT_ENTROPY.labels(req.person.source).observe(float(entropy(scored.weights.log())))
        return Scored(
            scores=scored.scores.tolist(),
            ranking=scored.ranking,
            weights=scored.weights.tolist(),
            weights_source=req.person.source,
            p_first_preferred=scored.p_first_preferred,
            head_rewards=scored.head_rewards.tolist() if with_head_rewards else None,
            truncated=req.truncated,
        )

    # ---- feedback -------------------------------------------------------------------------
    async def feedback(
        self,
        *,
        user_id: str,
        chosen: str,
        rejected: str,
        prompt: str | None = None,
        messages: Sequence[Message] | None = None,
        context: str | None = None,
        feedback_id: str | None = None,
    ) -> FeedbackOutcome:
        """Embed (prompt, chosen, rejected), then apply the routing update atomically in Redis.
        At most two Redis round trips: read (state + feedback_id), then the update script."""
        label = Label(chosen, rejected, prompt, messages, context, self.store.feedback_id(feedback_id))
        self.active_users.touch(user_id)
        asked = [feedback_id] if feedback_id else []
        try:
            snapshot, (prompt_text, texts, _) = await asyncio.gather(
                self._read(user_id, asked), self.embedder.pair_texts(prompt, messages, [chosen, rejected])
            )
            for _ in range(CONTEXT_RETRIES):
                if snapshot.previous and snapshot.previous[0] is not None:
                    metrics.FEEDBACK.labels("duplicate").inc()
                    return snapshot.previous[0]
                outcome = await self._apply(user_id, prompt_text, texts, label, snapshot.state)
                if outcome is not None:
                    metrics.FEEDBACK.labels("applied" if outcome.applied else "duplicate").inc()
                    return outcome
                snapshot = await self._read(user_id, asked)
        except StoreUnavailable:
            metrics.FEEDBACK.labels("unavailable").inc()
            raise
        except Exception:
            metrics.FEEDBACK.labels("error").inc()
            raise
        metrics.FEEDBACK.labels("error").inc()
        raise ContextConflict("the user's context changed during the update; retry")  # no internal key

    async def _apply(
        self,
        user_id: str,
        prompt_text: str,
        texts: list[str],
        label: Label,
        state: UserState | None,
    ) -> FeedbackOutcome | None:
        """One attempt; None when the stored context changed under us."""
        context, stored = label.context, (state.context if state else None)
        routed = context if context is not None else stored
        prompt_emb, pair_emb = await self.embedder.embed([router_text(prompt_text, routed)], texts + context_texts(routed))
        pair_emb, ctx = self._with_context(pair_emb, len(texts), Personal(None, routed, "user"))
        # the stated context's pseudo-label is part of the prior the update starts from
        prior_logits, losses = personal_scoring.feedback_terms(self.model, prompt_emb, pair_emb, ctx)  # (K,), (K,)
        try:
            return await self.store.apply_feedback(
                user_id, prior_logits.tolist(), losses.tolist(), self.routing, feedback_id=label.feedback_id,
                expected_context=stored, check_context=context is None, history=label.to_history(label.feedback_id),
            )
        except ContextChanged:
            return None

    # ---- active learning ------------------------------------------------------------------
    async def next_query(
        self,
        *,
        user_id: str,
        responses: Sequence[str],
        prompt: str | None = None,
        messages: Sequence[Message] | None = None,
        context: str | None = None,
    ) -> NextQuery:
        """The pair of responses whose label is expected to teach the most about this user."""
        req = await self._embedded(user_id, context, prompt, messages, responses)
        choice = personal_scoring.most_informative_pair(
            self.model, req.prompt_emb, req.pair_emb, req.offset, self.routing
        )
        return NextQuery(
            pair=choice.pair,
            expected_gain=choice.expected_gain,
            weights=choice.weights.tolist(),
            weights_source=req.person.source,
        )

    # ---- users ----------------------------------------------------------------------------
    async def personal(self, user_id: str | None, context: str | None) -> Personal:
        """The user's offset and context (one Redis round trip); the prior when Redis is down."""
        if user_id is None:
            return Personal(None, context, "prior")
        self.active_users.touch(user_id)
        try:
            state = (await self._read(user_id)).state
        except StoreUnavailable:
            metrics.DEGRADED.labels("redis_unavailable").inc()
            return Personal(None, context, "prior_degraded")
        if state is None:
            return Personal(None, context, "prior")
        return Personal(
            torch.tensor(state.offset, dtype=torch.float32), context if context is not None else state.context, "user"
        )

    async def user(self, user_id: str) -> UserState:
        state = (await self._read(user_id)).state
        if state is None:
            raise UserNotFound("no state stored for this user")  # user_id is the internal key: the route names the user
        return state

    async def set_context(self, user_id: str, context: str | None) -> UserState:
        await self._read(user_id)  # a state kept from another model version is rebuilt first
        return await self.store.set_context(user_id, context)

    async def forget(self, user_id: str) -> bool:
        """Erase the user's state, remembered feedback ids, kept history and context."""
        return await self.store.delete(user_id)

    async def _read(self, user_id: str, feedback_ids: Sequence[str] = ()) -> Snapshot:
        """The user (one round trip), rebuilt from the kept history first after a model upgrade."""
        if self.history is not None:
            return await self.history.snapshot(user_id, feedback_ids)
        return await self.store.read(user_id, feedback_ids)

    def base_weights(self, offset: Sequence[float]) -> list[float]:
        """softmax(b + u): the user's weights before any prompt is seen."""
        return personal_scoring.base_weights(self.model, torch.tensor(offset, dtype=torch.float32)).tolist()

    # ---- shared request preparation ---------------------------------------------------------
    async def _embedded(self, user_id, context, prompt, messages, responses) -> Embedded:
        """The user's state (one Redis round trip) and, concurrently, the texts; then one
        embedding call for the router input, the N responses and the stated context."""
        person, (prompt_text, texts, truncated) = await asyncio.gather(
            self.personal(user_id, context), self.embedder.pair_texts(prompt, messages, responses)
        )
        prompt_emb, pair_emb = await self.embedder.embed(
            [router_text(prompt_text, person.context)], texts + context_texts(person.context)
        )
        pair_emb, offset = self._with_context(pair_emb, len(texts), person)
        return Embedded(person, prompt_emb, pair_emb, offset, truncated)

    # ---- stated context ---------------------------------------------------------------------
    def _with_context(
        self, pair_emb: torch.Tensor, n: int, person: Personal
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Split the context statement's embeddings (see context_texts) off the N pair
        embeddings and add its pseudo-label offset to the user's: (N, D), (K,) or None."""
        if not person.context:
            return pair_emb, person.offset
        return pair_emb[:n], personal_scoring.with_stated_context(self.model, pair_emb[n:], person.offset, self.routing)
