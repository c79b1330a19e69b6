"""What service/store.py reads and writes: the user's state, a feedback's outcome, one label's
update terms, and the key layout (the one place keys are built)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import NamedTuple

FIELDS = ("offset", "n", "version", "context", "updated_at")  # the state hash's fields, as read


@dataclass(frozen=True)
class UserState:
    offset: list[float]  # (K,) added to the router's logits
    n_feedback: int
    context: str | None  # the user's stated preferences, read by the router
    version: int  # +1 on every write (feedback or context)
    updated_at: float | None  # unix seconds of the last write


@dataclass(frozen=True)
class FeedbackOutcome:
    weights_before: list[float]  # (K,) softmax(z + u) before the update
    weights_after: list[float]  # (K,) softmax(z + u') after
    n_feedback: int
    version: int
    offset: list[float]  # (K,) u'
    applied: bool  # False when this feedback_id had been applied before (the first result is returned)


@dataclass(frozen=True)
class LabelTerms:
    """One label, ready for the update script: what depends only on the texts."""

    feedback_id: str  # idempotency key (store-generated when the caller gave none)
    prior_logits: list[float]  # (K,) z = R p + b (+ stated-context offset) for the prompt
    losses: list[float]  # (K,) L_k = -log sigmoid(r_k(chosen) - r_k(rejected))


class ContextChanged(Exception):
    """The user's context changed between reading the state and applying the update."""


class UserKeys(NamedTuple):
    """A user's keys, in the order of the feedback script's KEYS (service/routing_lua.py)."""

    state: str  # hash: offset (JSON list of K floats), n, version, context, updated_at
    feedback: str  # hash: feedback_id -> first result (JSON)
    feedback_times: str  # zset: feedback_id -> time (forgets ids after a TTL)


@dataclass(frozen=True)
class KeySchema:
    """The one definition of the key layout: ``<prefix>:<model version>:{<user>}`` + ``:fb``, ``:fbt``."""

    prefix: str
    model_version: str

    @property
    def namespace(self) -> str:
        """``<prefix>:<model version>``; braces in the version are replaced (they would steal the hash tag)."""
        return f"{self.prefix}:{self.model_version.replace('{', '_').replace('}', '_')}"

    def user(self, user_id: str) -> UserKeys:
        state = f"{self.namespace}:{{{user_id}}}"
        return UserKeys(state, state + ":fb", state + ":fbt")


def state_from_raw(raw: list | None, num_heads: int) -> UserState | None:
    """The HMGET of :data:`FIELDS` -> the state; None for a user with nothing stored."""
    if not raw or all(v is None for v in raw):
        return None
    offset_raw, n, version, context, updated_at = raw
    offset = json.loads(offset_raw) if offset_raw else []
    if len(offset) != num_heads:
        offset = [0.0] * num_heads
    return UserState(
        offset=[float(x) for x in offset],
        n_feedback=int(n or 0),
        context=context or None,
        version=int(version or 0),
        updated_at=float(updated_at) if updated_at else None,
    )


def outcome_from_json(payload: str, *, applied: bool) -> FeedbackOutcome:
    """A result the update script stored (JSON) -> the outcome."""
    data = json.loads(payload)
    return FeedbackOutcome(
        weights_before=data["weights_before"],
        weights_after=data["weights_after"],
        n_feedback=int(data["n_feedback"]),
        version=int(data["version"]),
        offset=data["offset"],
        applied=applied,
    )
