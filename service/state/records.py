"""What service/state/user_store.py reads and writes: the user's state, a feedback's outcome, one label's
update terms, and the key layout (the one place keys are built)."""

from __future__ import annotations

import json
import math
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
    digest: str | None = None  # the applied label's digest (None in results stored before digests were kept)


@dataclass(frozen=True)
class LabelTerms:
    """One label, ready for the update script: what depends only on the texts."""

    feedback_id: str  # idempotency key (store-generated when the caller gave none)
    prior_logits: list[float]  # (K,) z = R p + b (+ stated-context offset) for the prompt
    losses: list[float]  # (K,) L_k = -log sigmoid(r_k(chosen) - r_k(rejected))
    digest: str = ""  # what the label says, hashed (Label.digest): its id reused with another label is a 409


class ContextChanged(Exception):
    """The user's context changed between reading the state and applying the update."""


class UserKeys(NamedTuple):
    """A user's keys, in the order of the feedback script's KEYS (service/state/update_script.py)."""

    state: str  # hash: offset (JSON list of K floats), n, version, context, updated_at
    feedback: str  # hash: feedback_id -> first result (JSON)
    feedback_times: str  # zset: feedback_id -> time (forgets ids after a TTL or beyond the last N)
    history: str  # list: the user's last labelled pairs (JSON), kept across model versions
    context: str  # string: the user's stated preferences, kept across model versions
    versions: str  # set: the user's state keys under every model version written (an erase deletes them all)
    history_bytes: str  # string: the bytes the history list holds (its items' lengths, kept with it)


@dataclass(frozen=True)
class Snapshot:
    """One read of a user: the state under this model version, the first outcomes of the asked
    feedback ids, and whether a state must be rebuilt from the kept history (model upgrade)."""

    state: UserState | None
    previous: list[FeedbackOutcome | None]  # per asked id: its first outcome, None if never applied
    rebuild: bool  # no state under this version, but labelled pairs or a context kept from another
    history_bytes: int = 0  # bytes of the user's kept history
    context_bytes: int = 0  # bytes of the user's kept context


@dataclass(frozen=True)
class KeySchema:
    """The one definition of the key layout: ``<prefix>:<model version>:{<user>}`` + ``:fb``, ``:fbt``;
    outside the model version, ``<prefix>:users:{<user>}:history``, ``:context`` and ``:versions`` (the
    user's state keys under every version, so that an erase reaches them all). Every key of a
    user carries the hash tag ``{<user>}``: one Redis Cluster slot."""

    prefix: str
    model_version: str

    @property
    def namespace(self) -> str:
        """``<prefix>:<model version>``; braces in the version are replaced (they would steal the hash tag)."""
        return f"{self.prefix}:{self.model_version.replace('{', '_').replace('}', '_')}"

    def user(self, user_id: str) -> UserKeys:
        state = f"{self.namespace}:{{{user_id}}}"
        kept = f"{self.prefix}:users:{{{user_id}}}"
        return UserKeys(state, state + ":fb", state + ":fbt", kept + ":history", kept + ":context", kept + ":versions",
                        kept + ":history_bytes")


def state_from_raw(raw: list | None, num_heads: int) -> tuple[UserState | None, bool]:
    """The HMGET of :data:`FIELDS` -> (the state or None for a user with nothing stored, repaired).
    A corrupt field (offset not K finite numbers, unparsable JSON or counters) reads as the
    prior's value and ``repaired`` is True: one bad key never makes a user's requests fail."""
    if not raw or all(v is None for v in raw):
        return None, False
    offset_raw, n, version, context, updated_at = raw
    offset, bad_offset = _offset(offset_raw, num_heads)
    n_feedback, bad_n = _number(n, int)
    version_no, bad_version = _number(version, int)
    updated, bad_time = _number(updated_at, float)
    state = UserState(offset=offset, n_feedback=int(n_feedback or 0), context=context or None,
                      version=int(version_no or 0), updated_at=updated)
    return state, bad_offset or bad_n or bad_version or bad_time


def _offset(raw: str | None, num_heads: int) -> tuple[list[float], bool]:
    """(K,) finite offset, or zeros (the prior) and True when the stored one is not that."""
    if not raw:
        return [0.0] * num_heads, False
    try:
        values = [float(x) for x in json.loads(raw)]
    except (ValueError, TypeError):
        return [0.0] * num_heads, True
    if len(values) != num_heads or not all(math.isfinite(x) for x in values):
        return [0.0] * num_heads, True
    return values, False


def _number(raw: str | None, kind: type) -> tuple[float | int | None, bool]:
    """A stored counter or time; None and True when it is not a finite number."""
    if raw is None or raw == "":
        return None, False
    try:
        value = kind(raw)
    except (ValueError, TypeError):
        return None, True
    return (value, False) if math.isfinite(value) else (None, True)


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
        digest=data.get("digest"),
    )
