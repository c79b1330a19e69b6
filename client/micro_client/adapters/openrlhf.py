"""OpenRLHF: per-sample users travel in the dataset's label column (``--data.label_key``, or
``--label_key`` before 0.11), which OpenRLHF posts as ``labels`` beside ``query`` and ``prompts``.

Two ways in:
- ``--reward.remote_url http://host:8000/get_reward`` (``--remote_rm_url`` before 0.11): OpenRLHF's
  own HTTP client posts to the service; labels made by ``label()`` carry the user (server side:
  docs/integrations.md). That client sends no API key: with auth on, give it a read-only key in
  the path (``/k/<key>/get_reward``, MICRO_URL_KEYS=true) or put a header-adding proxy in front.
- ``--reward.remote_url /path/to/examples/openrlhf/reward_func.py``: OpenRLHF loads
  ``reward_func(queries, prompts, labels)`` from the file and calls it per sample; this one
  (``reward_func`` below) scores through micro_client, so it sends MICRO_API_KEY and works with
  per-sample users on any server version.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from micro_client.adapters.batching import Sample, score_samples_blocking


def label(user_id: str, context: str | None = None) -> str:
    """A dataset label naming the sample's user (and stated context): a JSON object as a string."""
    body: dict[str, str] = {"user_id": user_id}
    if context is not None:
        body["context"] = context
    return json.dumps(body, separators=(",", ":"))


def parse_label(value: Any) -> tuple[str | None, str | None]:
    """(user_id, context) of a label: a mapping, or a string holding a JSON object; anything else
    (a plain string such as a math answer) names no user. A context without a user is kept (the
    sample is scored on the prior with that stated context), as the server's /get_reward does."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None, None
    if not isinstance(value, dict):
        return None, None
    user, context = value.get("user_id"), value.get("context")
    return (str(user) if user is not None else None), (str(context) if context is not None else None)


def response_of(query: str, prompt: str | None) -> tuple[str, str]:
    """(prompt, response): the query minus its prompt prefix (the whole query when it lacks it)."""
    if prompt is not None and query.startswith(prompt):
        return prompt, query[len(prompt):]
    return "", query


def reward_func(queries: Sequence[str], prompts: Sequence[str], labels: Sequence[Any]) -> dict[str, Any]:
    """OpenRLHF's custom reward function: ``{"rewards", "scores", "extra_logs"}`` like /get_reward."""
    samples = []
    for query, prompt, raw in zip(queries, prompts, labels, strict=True):
        user_id, context = parse_label(raw)
        p, r = response_of(query, prompt)
        samples.append(Sample(p, r, user_id, context))
    rewards = score_samples_blocking(samples)
    return {"rewards": rewards, "scores": rewards,
            "extra_logs": {"personalized": [float(s.user_id is not None) for s in samples]}}
