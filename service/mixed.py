"""Many samples, each with its own user and stated context, prepared for ONE embedding call:
the users' states fetched concurrently (each distinct user once), the stated contexts' texts
(each distinct context once) to embed beside the samples, and then each sample's offset.

Shapes: N samples, K heads, D embedding size, S statement texts (2 per distinct context).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from model import personal_scoring
from service.engine import Personal, RewardEngine, context_texts

Who = tuple[str | None, str | None]  # (the store's user id or None, stated context or None)


async def personals(engine: RewardEngine, who: Sequence[Who]) -> list[Personal]:
    """Per sample, its user's offset and context; each distinct (user, context) fetched once, all
    concurrently (one Redis round trip each, in parallel; the prior when Redis is down)."""
    distinct = list(dict.fromkeys(who))
    found = await asyncio.gather(*(engine.personal(user, context) for user, context in distinct))
    by_who = dict(zip(distinct, found))
    return [by_who[w] for w in who]


@dataclass(frozen=True)
class Statements:
    """The stated contexts of a batch: their texts to embed and where each context's pair starts."""

    texts: list[str]  # (S,) context, neutral statement, context, neutral statement, ...
    start: dict[str, int]  # context -> index of its text in ``texts``

    @classmethod
    def of(cls, persons: Sequence[Personal]) -> Statements:
        contexts = list(dict.fromkeys(p.context for p in persons if p.context))
        texts = [t for c in contexts for t in context_texts(c)]
        return cls(texts, {c: 2 * i for i, c in enumerate(contexts)})


def offsets(engine: RewardEngine, persons: Sequence[Personal], statements: Statements,
            statement_emb: torch.Tensor) -> list[torch.Tensor | None]:
    """(S, D) statement embeddings -> per sample: the user's offset plus its stated context's
    pseudo-label offset, (K,), or None for the plain prior (exactly what /v1/score uses)."""
    done: dict[int, torch.Tensor | None] = {}  # by id(person): samples of one user share one Personal
    out = []
    for person in persons:
        if id(person) not in done:
            if person.context:
                at = statements.start[person.context]
                done[id(person)] = personal_scoring.with_stated_context(
                    engine.model, statement_emb[at : at + 2], person.offset, engine.routing
                )
            else:
                done[id(person)] = person.offset
        out.append(done[id(person)])
    return out


def stacked(rows: Sequence[torch.Tensor | None], num_heads: int) -> torch.Tensor:
    """Per-sample offsets -> (N, K); the prior's None is a zero row (the same logits)."""
    zero = torch.zeros(num_heads)
    return torch.stack([zero if r is None else r for r in rows]) if rows else torch.zeros(0, num_heads)
