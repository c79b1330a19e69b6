"""Stand-ins for the engine's collaborators, for unit tests of service.engine.RewardEngine with
no backbone and no Redis: a deterministic hashing embedder (D = 8), an in-memory user store with
service.store.UserStore's async interface, and tiny hand-set heads (K = 3).

The heads read one coordinate each: head k's reward is coordinate k of a response's embedding;
the router's logit k is coordinate 3 + k of the router input plus a bias. Hand-set embeddings
(``HashingEmbedder.fixed``) therefore say directly which head prefers which text."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace

import torch

from model.heads import MixtureRewardModel
from model.routing import RoutingConfig, update_offset
from service.errors import StoreUnavailable
from service.store import ContextChanged, FeedbackOutcome, Snapshot, UserState

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
    """The engine's view of service.embedder.Embedder: texts -> ``fixed[text]`` if set, else a
    hashed vector. Remembers the router texts it was asked to embed."""

    def __init__(self, fixed: dict[str, torch.Tensor] | None = None) -> None:
        self.fixed = dict(fixed or {})
        self.router_texts: list[str] = []

    def vector(self, text: str) -> torch.Tensor:
        return self.fixed[text] if text in self.fixed else hashed_vector(text)

    async def pair_texts(self, prompt: str | None, messages: object, responses: Sequence[str]
                         ) -> tuple[str, list[str], list[bool]]:
        if prompt is None:
            raise NotImplementedError("the stand-in embedder takes a prompt, not messages")
        return prompt, [pair_text(prompt, r) for r in responses], [False] * len(responses)

    async def many_pair_texts(self, prompts: Sequence[str], responses: Sequence[str]) -> tuple[list[str], list[bool]]:
        return [pair_text(p, r) for p, r in zip(prompts, responses, strict=True)], [False] * len(responses)

    async def embed(self, router_texts: Sequence[str], pair_texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        self.router_texts.extend(router_texts)
        rows = [self.vector(t) for t in [*router_texts, *pair_texts]]
        emb = torch.stack(rows) if rows else torch.zeros(0, D)
        return emb[: len(router_texts)], emb[len(router_texts):]


class InMemoryStore:
    """service.store.UserStore's async interface over dicts. Feedback is applied with
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
    def feedback_id(given: str | None) -> str | None:
        return given

    async def get_with_feedback(self, user_id: str, feedback_id: str | None
                                ) -> tuple[UserState | None, FeedbackOutcome | None]:
        self._check()
        previous = self.outcomes.get((user_id, feedback_id)) if feedback_id else None
        return self.states.get(user_id), previous and replace(previous, applied=False)

    async def apply_feedback(self, user_id: str, prior_logits: list[float], losses: list[float], cfg: RoutingConfig,
                             *, feedback_id: str | None, expected_context: str | None = None,
                             check_context: bool = False, history: str | None = None) -> FeedbackOutcome:
        self._check()
        if feedback_id and (user_id, feedback_id) in self.outcomes:
            return replace(self.outcomes[user_id, feedback_id], applied=False)
        state = self.states.get(user_id) or UserState([0.0] * K, 0, None, 0, None)
        if check_context and (state.context or "") != (expected_context or ""):
            raise ContextChanged(user_id)
        self.applied_terms.append((list(prior_logits), list(losses)))
        z, loss, u = (torch.tensor(x, dtype=torch.float64) for x in (prior_logits, losses, state.offset))
        # the reward margin whose Bradley-Terry loss is L: -log sigmoid(m) = L  <=>  m = -log(e^L - 1)
        margin = -torch.log(torch.expm1(loss))
        new = update_offset(u, z, margin, torch.zeros_like(margin), cfg)
        self.states[user_id] = replace(state, offset=new.tolist(), n_feedback=state.n_feedback + 1,
                                       version=state.version + 1)
        outcome = FeedbackOutcome(weights_before=torch.softmax(z + u, -1).tolist(),
                                  weights_after=torch.softmax(z + new, -1).tolist(), n_feedback=state.n_feedback + 1,
                                  version=state.version + 1, offset=new.tolist(), applied=True)
        if feedback_id:
            self.outcomes[user_id, feedback_id] = outcome
        return outcome

    async def set_context(self, user_id: str, context: str | None) -> UserState:
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
