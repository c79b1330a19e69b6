"""Stand-ins for the engine's collaborators, for unit tests of service.inference.engine.RewardEngine with
no backbone and no Redis: a deterministic hashing embedder (D = 8), an in-memory user store with
service.state.user_store.UserStore's async interface, and tiny hand-set heads (K = 3).

The heads read one coordinate each: head k's reward is coordinate k of a response's embedding;
the router's logit k is coordinate 3 + k of the router input plus a bias. Hand-set embeddings
(``HashingEmbedder.fixed``) therefore say directly which head prefers which text."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import replace

import torch

from model.heads import MixtureRewardModel
from model.routing import RoutingConfig, update_offset
from service.core.errors import StoreUnavailable
from service.inference.texts import Prepared, TextRequest
from service.inference.engine import NextQuery, RewardEngine
from service.inference.preference_label import Label
from service.inference.scoring import ScoreItem, Scored
from service.state.records import ContextChanged, FeedbackOutcome, LabelTerms, Snapshot, UserState

D, K = 8, 3
ROUTER_BIAS = (0.3, 0.0, -0.3)


def unit(i: int, scale: float = 1.0) -> torch.Tensor:
    """(D,) scale times the i-th basis vector."""
    v = torch.zeros(D)
    v[i] = scale
    return v


def tiny_heads() -> MixtureRewardModel:
    """H (K, D) reads coordinates 0..K-1; R (K, D) reads coordinates K..2K-1; b = ROUTER_BIAS."""
    model = MixtureRewardModel(D, K)
    with torch.no_grad():
        model.heads.weight.copy_(torch.eye(K, D))
        model.router.weight.copy_(torch.cat([torch.zeros(K, K), torch.eye(K), torch.zeros(K, D - 2 * K)], dim=1))
        model.router.bias.copy_(torch.tensor(ROUTER_BIAS))
    return model


def pair_text(prompt: str, response: str) -> str:
    """The text a response is embedded as (the real Embedder joins prompt and response the same way)."""
    return f"{prompt}\n\n{response}"


def hashed_vector(text: str) -> torch.Tensor:
    """A fixed (D,) vector per text: its blake2b digest read as D numbers in [-1, 1)."""
    return torch.tensor([b / 128 - 1 for b in hashlib.blake2b(text.encode(), digest_size=D).digest()])


class HashingEmbedder:
    """The engine's view of service.inference.embedder.Embedder: texts -> ``fixed[text]`` if set, else a
    hashed vector. Remembers the router texts it was asked to embed."""

    def __init__(self, fixed: dict[str, torch.Tensor] | None = None) -> None:
        self.fixed = dict(fixed or {})
        self.router_texts: list[str] = []

    def vector(self, text: str) -> torch.Tensor:
        return self.fixed[text] if text in self.fixed else hashed_vector(text)

    async def prepare(self, requests: Sequence[TextRequest]) -> list[Prepared]:
        out = []
        for r in requests:
            if r.prompt is None:
                raise NotImplementedError("the stand-in embedder takes a prompt, not messages")
            head = r.prompt if r.pair_prompt is None else r.pair_prompt
            out.append(Prepared(r.prompt, [pair_text(head, x) for x in r.responses], [False] * len(r.responses)))
        return out

    async def embed(self, router_texts: Sequence[str], pair_texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        self.router_texts.extend(router_texts)
        rows = [self.vector(t) for t in [*router_texts, *pair_texts]]
        emb = torch.stack(rows) if rows else torch.zeros(0, D)
        return emb[: len(router_texts)], emb[len(router_texts):]


class InMemoryStore:
    """service.state.user_store.UserStore's async interface over dicts. Feedback is applied with
    model.routing.update_offset (the reference the Lua script is tested against), remembered by
    feedback id; each call's (prior logits, losses) is kept in ``applied_terms``. ``down = True``
    makes every call raise StoreUnavailable, as a Redis that does not answer."""

    def __init__(self) -> None:
        self.states: dict[str, UserState] = {}
        self.outcomes: dict[tuple[str, str], FeedbackOutcome] = {}
        self.applied_terms: list[tuple[list[float], list[float]]] = []
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise StoreUnavailable("the in-memory store is down", retry_after_s=1)

    async def get(self, user_id: str) -> UserState | None:
        self._check()
        return self.states.get(user_id)

    async def read(self, user_id: str, feedback_ids: Sequence[str] = ()) -> Snapshot:
        state = await self.get(user_id)  # the one read a subclass may count
        previous = [self.outcomes.get((user_id, i)) for i in feedback_ids]
        return Snapshot(state, [p and replace(p, applied=False) for p in previous], False)

    @staticmethod
    def feedback_id(given: str | None) -> str:
        return given or f"auto-{uuid.uuid4().hex}"

    async def apply_labels(self, user_id: str, labels: Sequence[LabelTerms], cfg: RoutingConfig, *,
                           expected_context: str | None = None, check_context: bool = False,
                           history: Sequence[str | None] | None = None, replay: bool = False,
                           stored_bytes: int = 0) -> list[FeedbackOutcome]:
        self._check()
        state = self.states.get(user_id) or UserState([0.0] * K, 0, None, 0, None)
        if check_context and (state.context or "") != (expected_context or ""):
            raise ContextChanged(user_id)
        return [self._apply_one(user_id, label, cfg) for label in labels]

    def _apply_one(self, user_id: str, label: LabelTerms, cfg: RoutingConfig) -> FeedbackOutcome:
        if (user_id, label.feedback_id) in self.outcomes:
            return replace(self.outcomes[user_id, label.feedback_id], applied=False)
        state = self.states.get(user_id) or UserState([0.0] * K, 0, None, 0, None)
        self.applied_terms.append((list(label.prior_logits), list(label.losses)))
        z, loss, u = (torch.tensor(x, dtype=torch.float64) for x in (label.prior_logits, label.losses, state.offset))
        # the reward margin whose Bradley-Terry loss is L: -log sigmoid(m) = L  <=>  m = -log(e^L - 1)
        margin = -torch.log(torch.expm1(loss))
        new = update_offset(u, z, margin, torch.zeros_like(margin), cfg)
        self.states[user_id] = replace(state, offset=new.tolist(), n_feedback=state.n_feedback + 1,
                                       version=state.version + 1)
        outcome = FeedbackOutcome(weights_before=torch.softmax(z + u, -1).tolist(),
                                  weights_after=torch.softmax(z + new, -1).tolist(), n_feedback=state.n_feedback + 1,
                                  version=state.version + 1, offset=new.tolist(), applied=True)
        self.outcomes[user_id, label.feedback_id] = outcome
        return outcome

    async def set_context(self, user_id: str, context: str | None, history_bytes: int = 0) -> UserState:
        self._check()
        state = self.states.get(user_id) or UserState([0.0] * K, 0, None, 0, None)
        self.states[user_id] = replace(state, context=context or None, version=state.version + 1)
        return self.states[user_id]

    async def delete(self, user_id: str) -> bool:
        self._check()
        self.outcomes = {key: o for key, o in self.outcomes.items() if key[0] != user_id}
        return self.states.pop(user_id, None) is not None

    async def ping(self) -> bool:
        return not self.down

    async def close(self) -> None:
        return None


# ---- one request through the engine's list-taking entry points --------------------------------
async def score_one(engine: RewardEngine, **item: object) -> Scored:
    (result,) = await engine.score([ScoreItem(**item)])  # type: ignore[arg-type]
    return result


async def feedback_one(engine: RewardEngine, *, user_id: str, chosen: str, rejected: str, **label: object
                       ) -> FeedbackOutcome:
    (result,) = (await engine.feedback(user_id, [Label(chosen, rejected, **label)])).results  # type: ignore[arg-type]
    return result


async def next_query_one(engine: RewardEngine, *, user_id: str, **item: object) -> NextQuery:
    return await engine.next_query(ScoreItem(user_id=user_id, **item))  # type: ignore[arg-type]
