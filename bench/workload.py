"""Request bodies built from the DSP queries and their five styled responses (../shared/data).

Every body carries a unique tag at the start of its prompt and of each response, so no text of
a run is ever an embedding-cache hit by accident: the router reads the start of the prompt and
a (prompt, response) text always keeps the start of the response (model.backbone.join_pairs).
Hits then happen only where the bench means them (feedback on a pair it has just scored).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

from model.data import DSP_RESPONSE_KEYS, RankingItem, load_dsp_items


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
