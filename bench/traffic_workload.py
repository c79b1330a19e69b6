"""Request bodies of real RL traffic, from the DSP queries and their styled responses: OpenRLHF's
/get_reward with one query per POST (a chat-shaped prompt + response, as its remote reward model
client sends), a /v1/score of many responses (overload), and the maximal /get_reward (fairness).
Every text carries a unique tag at its start, so no text is an embedding-cache hit."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from model.data import DSP_RESPONSE_KEYS, RankingItem

CHAT = "<|user|>\n{prompt}\n<|assistant|>\n"  # the shape of a chat-templated OpenRLHF query


def rl_bodies(items: list[RankingItem], run: str) -> Iterator[dict]:
    """Endless /get_reward bodies: one query (prompt + one styled response), its prompt."""
    for i, item in zip(itertools.count(), itertools.cycle(items)):
        prompt = CHAT.format(prompt=f"[{run}-rl{i}] {item.prompt}")
        response = item.responses[DSP_RESPONSE_KEYS[i % len(DSP_RESPONSE_KEYS)]]
        yield {"query": [prompt + response], "prompts": [prompt]}


def many_responses_bodies(items: list[RankingItem], run: str, n_responses: int) -> Iterator[dict]:
    """Endless /v1/score bodies with ``n_responses`` responses (the five styles, tagged, cycled)."""
    for i, item in zip(itertools.count(), itertools.cycle(items)):
        tag = f"[{run}-o{i}]"
        styles = [DSP_RESPONSE_KEYS[j % len(DSP_RESPONSE_KEYS)] for j in range(n_responses)]
        responses = [f"{tag}.{j} {item.responses[k]}" for j, k in enumerate(styles)]
        yield {"prompt": f"{tag} {item.prompt}", "responses": responses}


def giant_body(items: list[RankingItem], run: str, n_queries: int, chars: int) -> dict:
    """One /get_reward of ``n_queries`` queries of ``chars`` characters each (the service's limits)."""
    queries = []
    for i, item in zip(range(n_queries), itertools.cycle(items)):
        text = f"[{run}-g{i}] " + " ".join(item.responses[k] for k in DSP_RESPONSE_KEYS)
        queries.append((text * (chars // max(1, len(text)) + 1))[:chars])
    return {"query": queries}


def small_body(items: list[RankingItem], run: str) -> dict:
    """A 2-response /v1/score."""
    item = items[0]
    return {"prompt": f"[{run}-s] {item.prompt}", "responses": [f"[{run}-s.{j}] {item.responses[k]}"
                                                               for j, k in enumerate(DSP_RESPONSE_KEYS[:2])]}
