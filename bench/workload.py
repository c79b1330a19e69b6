"""Request bodies built from the DSP queries and their five styled responses (../shared/data).

Every body carries a unique tag at the start of its prompt and of each response, so no text of
a run is ever an embedding-cache hit by accident: the router reads the start of the prompt and
a (prompt, response) text always keeps the start of the response (model.backbone.join_pairs).
Hits then happen only where the bench means them (feedback on a pair it has just scored).

bench.load's calls (/v1/score, /v1/feedback) and bench.traffic's real RL traffic: OpenRLHF's
/get_reward with one query per POST (a chat-shaped prompt + response, as its remote reward model
client sends), a /v1/score of many responses (overload), and the maximal /get_reward (fairness).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

from model.data import DSP_RESPONSE_KEYS, RankingItem, load_dsp_items

CHAT = "<|user|>\n{prompt}\n<|assistant|>\n"  # the shape of a chat-templated OpenRLHF query


@dataclass(frozen=True)
class Call:
    prompt: str
    responses: list[str]


def dsp_items() -> list[RankingItem]:
    items = load_dsp_items()
    if not items:
        raise SystemExit("no DSP items under ../shared/data/dsp")
    return items


def calls(items: list[RankingItem], run: str, n_responses: int) -> Iterator[Call]:
    """Endless unique calls: item i's prompt and its first ``n_responses`` styles (rotating)."""
    for i, item in zip(itertools.count(), itertools.cycle(items)):
        keys = [DSP_RESPONSE_KEYS[(i + j) % len(DSP_RESPONSE_KEYS)] for j in range(n_responses)]
        tag = f"[{run}-{i}]"
        yield Call(f"{tag} {item.prompt}", [f"{tag}.{j} {item.responses[k]}" for j, k in enumerate(keys)])


def score_body(call: Call, user_id: str | None) -> dict:
    body: dict = {"prompt": call.prompt, "responses": call.responses}
    if user_id:
        body["user_id"] = user_id
    return body


def feedback_body(call: Call, user_id: str, feedback_id: str) -> dict:
    """The user prefers the first of the call's two responses."""
    return {"user_id": user_id, "prompt": call.prompt, "chosen": call.responses[0],
            "rejected": call.responses[1], "feedback_id": feedback_id}


# ---- real RL traffic (bench.traffic) ---------------------------------------------------------
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
