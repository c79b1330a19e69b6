"""Many /v1/score requests in one (POST /v1/score:batch: offline evaluation, best-of-N over a data
set): the users' states fetched concurrently, the texts of every item prepared concurrently, then
ONE embedding call for all items' router inputs, responses and stated contexts; each item is then
scored exactly as /v1/score scores it.

Shapes: I items, N_i responses of item i, K heads, D embedding size.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from model import personal_scoring
from model.backbone import Message
from model.features import router_text
from service.engine import RewardEngine, Scored
from service.mixed import Statements, offsets, personals


@dataclass(frozen=True)
class ScoreItem:
    responses: Sequence[str]
    prompt: str | None = None
    messages: Sequence[Message] | None = None
    user_id: str | None = None  # the store's id (namespaced by tenant), None for the prior
    context: str | None = None
    with_head_rewards: bool = False


async def score_many(engine: RewardEngine, items: Sequence[ScoreItem]) -> list[Scored]:
    """Per item, in order, what RewardEngine.score returns for it."""
    persons, *prepared = await asyncio.gather(
        personals(engine, [(i.user_id, i.context) for i in items]),
        *(engine.embedder.pair_texts(i.prompt, i.messages, i.responses) for i in items),
    )
    statements = Statements.of(persons)
    routers = [router_text(prompt_text, p.context) for (prompt_text, _, _), p in zip(prepared, persons)]
    texts = [t for _, item_texts, _ in prepared for t in item_texts]
    prompt_emb, emb = await engine.embedder.embed(routers, texts + statements.texts)  # (I, D), (sum N_i + S, D)
    item_offsets = offsets(engine, persons, statements, emb[len(texts) :])
    results, start = [], 0
    for i, (item, (_, item_texts, truncated)) in enumerate(zip(items, prepared)):
        end = start + len(item_texts)
        scored = personal_scoring.score_responses(engine.model, prompt_emb[i : i + 1], emb[start:end], item_offsets[i])
        results.append(
            Scored(
                scores=scored.scores.tolist(),
                ranking=scored.ranking,
                weights=scored.weights.tolist(),
                weights_source=persons[i].source,
                p_first_preferred=scored.p_first_preferred,
                head_rewards=scored.head_rewards.tolist() if item.with_head_rewards else None,
                truncated=truncated,
            )
        )
        start = end
    return results
