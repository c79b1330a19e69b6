"""Personalised scores, the one path of /v1/score, /v1/score:batch and /get_reward (and the
embeddings next-query reads): I requests, each with its own user, stated context, prompt and
N_i responses, scored together.

1. concurrently: the users' states (service/inference/users.py, each distinct user once) and the
   texts of every request (service/inference/texts.py: chat rendering, pair joining with truncation,
   one worker-thread call);
2. one embedding call for every router input (context + prompt), every (prompt, response) and
   every distinct stated context (service/inference/stated_context.py);
3. model.personal_scoring.score_requests: weights, rewards, scores, ranking, P(first > second).

Shapes: I requests, M = sum N_i responses, K heads, D embedding size.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from model.backbone import Message
from model.features import router_text
from model.heads import MixtureRewardModel
from model.personal_scoring import score_requests
from model.routing import RoutingConfig
from service.core import metrics
from service.inference.stated_context import Statements, with_context
from service.inference.texts import TextRequest

if TYPE_CHECKING:  # annotations only: not imported at run time
    from service.inference.embedder import Embedder
    from service.inference.texts import TextPreparer
    from service.inference.users import Personal, Users


@dataclass(frozen=True)
class ScoreItem:
    responses: Sequence[str]
    prompt: str | None = None
    messages: Sequence[Message] | None = None
    user_id: str | None = None  # the store's id (namespaced by tenant), None for the prior
    context: str | None = None  # overrides the stored context for this request
    with_head_rewards: bool = False
    pair_prompt: str | None = None  # what precedes each response in its text; None: the prompt ("" scores it whole)


@dataclass(frozen=True)
class Scored:
    scores: list[float]  # (N,)
    ranking: list[int]  # (N,) indices, best first
    weights: list[float]  # (K,)
    weights_source: str  # user | prior | prior_degraded
    p_first_preferred: float | None
    head_rewards: list[list[float]] | None  # (N, K) when asked for
    truncated: list[bool]  # (N,)
    weight_entropy: float  # nats


@dataclass(frozen=True)
class Embedded:
    """I requests embedded: what the heads and the router read."""

    persons: list[Personal]  # (I,)
    router_emb: torch.Tensor  # (I, D) context + prompt
    pair_emb: torch.Tensor  # (M, D) the requests' responses, request after request
    sizes: list[int]  # (I,) N_i
    offsets: torch.Tensor  # (I, K) user offset + stated-context offset (a zero row: the prior)
    truncated: list[list[bool]]  # (I, N_i)


class Scorer:
    def __init__(self, model: MixtureRewardModel, routing: RoutingConfig, texts: TextPreparer, embedder: Embedder,
                 users: Users) -> None:
        self.model, self.routing, self.texts, self.embedder, self.users = model, routing, texts, embedder, users

    async def score(self, items: Sequence[ScoreItem]) -> list[Scored]:
        """Per request, in order: its personalised scores."""
        if not items:
            return []
        req = await self.embedded(items)
        results = score_requests(self.model, req.router_emb, req.pair_emb, req.sizes, req.offsets)
        out = []
        for item, person, scored, truncated in zip(items, req.persons, results, req.truncated, strict=True):
            metrics.WEIGHT_ENTROPY.labels(person.source).observe(scored.weight_entropy)
            out.append(Scored(
                scores=scored.scores.tolist(), ranking=scored.ranking, weights=scored.weights.tolist(),
                weights_source=person.source, p_first_preferred=scored.p_first_preferred,
                head_rewards=scored.head_rewards.tolist() if item.with_head_rewards else None,
                truncated=truncated, weight_entropy=scored.weight_entropy,
            ))
        return out

    async def embedded(self, items: Sequence[ScoreItem]) -> Embedded:
        """The users' states and, concurrently, the texts; then one embedding call."""
        persons, prepared = await asyncio.gather(
            self.users.personals([(i.user_id, i.context) for i in items]),
            self.texts.prepare([TextRequest(i.prompt, i.messages, i.responses, i.pair_prompt) for i in items]),
        )
        statements = Statements.of(p.context for p in persons)
        routers = [router_text(p.prompt_text, person.context) for p, person in zip(prepared, persons)]
        texts = [t for p in prepared for t in p.pair_texts]
        router_emb, emb = await self.embedder.embed(routers, texts + statements.texts)  # (I, D), (M + S, D)
        context_offsets = statements.offsets(self.model, self.routing, emb[len(texts) :])
        zero = torch.zeros(self.model.num_heads)
        rows = [with_context(p.offset, p.context, context_offsets) for p in persons]
        offsets = torch.stack([zero if r is None else r for r in rows])  # the prior's None: the same logits as 0
        return Embedded(persons, router_emb, emb[: len(texts)], [len(p.pair_texts) for p in prepared], offsets,
                        [p.truncated for p in prepared])
