"""OpenRLHF rewards (POST /get_reward): full texts, each sample with its own user and stated
context (from its label), all scored in one batch: the users' states fetched concurrently, then
ONE embedding call for every router input, every (prompt, response) and every stated context.

Shapes: N queries, K heads, D embedding size.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from model import personal_scoring
from model.features import router_text
from service.engine import RewardEngine
from service.mixed import Statements, Who, offsets, personals, stacked


@dataclass(frozen=True)
class SampleRewards:
    scores: list[float]  # (N,) sum_k w_k r_k, as /v1/score gives each sample
    head_rewards: list[list[float]]  # (N, K)
    weight_entropy: list[float]  # (N,) entropy of the sample's head weights, nats
    personalized: list[bool]  # (N,) the sample's user has stored state
    truncated: list[bool]  # (N,)


def responses_of(queries: Sequence[str], prompts: Sequence[str]) -> list[str]:
    """The response of each query: what follows its prompt (the whole query when it does not start with it)."""
    return [q[len(p) :].lstrip() if q.startswith(p) else q for q, p in zip(queries, prompts)]


async def sample_rewards(
    engine: RewardEngine, queries: Sequence[str], prompts: Sequence[str] | None, who: Sequence[Who]
) -> SampleRewards:
    """``who[i]``: the store's user id and the stated context of query i (None, None for the prior).
    With prompts, query i's response is what follows prompts[i] and the router reads the prompt;
    without, the query is scored whole and the router reads it."""
    if not queries:
        return SampleRewards([], [], [], [], [])
    routed = list(prompts) if prompts is not None else list(queries)
    responses = responses_of(queries, prompts) if prompts is not None else list(queries)
    joined_prompts = routed if prompts is not None else [""] * len(queries)
    persons, (texts, truncated) = await asyncio.gather(
        personals(engine, who), engine.embedder.many_pair_texts(joined_prompts, responses)
    )
    statements = Statements.of(persons)
    routers = [router_text(p, person.context) for p, person in zip(routed, persons)]
    prompt_emb, emb = await engine.embedder.embed(routers, texts + statements.texts)  # (N, D), (N + S, D)
    n = len(texts)
    offset = stacked(offsets(engine, persons, statements, emb[n:]), engine.model.num_heads)  # (N, K)
    scored = personal_scoring.sample_scores(engine.model, emb[:n], prompt_emb, offset)
    return SampleRewards(
        scores=scored.scores.tolist(),
        head_rewards=scored.head_rewards.tolist(),
        weight_entropy=scored.weight_entropy.tolist(),
        personalized=[p.source == "user" for p in persons],
        truncated=truncated,
    )


def extra_logs(result: SampleRewards) -> dict[str, list[float]]:
    """OpenRLHF's extra_logs: one float per query under each key ({} for no query); it logs each key."""
    if not result.scores:
        return {}
    logs = {
        "truncated": [float(t) for t in result.truncated],
        "personalized": [float(p) for p in result.personalized],
        "weight_entropy": result.weight_entropy,
    }
    for k, column in enumerate(zip(*result.head_rewards)):
        logs[f"head_reward_{k}"] = list(column)
    return logs
