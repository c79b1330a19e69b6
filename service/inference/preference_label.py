"""One label as the engine takes it, and as the user's history keeps it (JSON) across model versions."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

from model.backbone import Message


@dataclass(frozen=True)
class Label:
    """One label as the engine takes it."""

    chosen: str
    rejected: str
    prompt: str | None = None
    messages: Sequence[Message] | None = None
    context: str | None = None  # overrides the stored context for this label
    feedback_id: str | None = None
    kept_digest: str | None = None  # a kept label's digest, as it was first posted (its texts may be cut since)

    def digest(self) -> str:
        """What the label says, hashed: a feedback_id reused with another label is told apart (409)."""
        if self.kept_digest:
            return self.kept_digest
        content = [self.prompt, list(self.messages) if self.messages else None, self.chosen, self.rejected,
                   self.context]
        text = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()

    def to_history(self, feedback_id: str) -> str:
        """The label as kept in the user's history (JSON; service/inference/user_history.py replays it)."""
        return json.dumps(
            {"id": feedback_id, "prompt": self.prompt, "messages": list(self.messages) if self.messages else None,
             "chosen": self.chosen, "rejected": self.rejected, "context": self.context, "digest": self.digest()},
            ensure_ascii=False, separators=(",", ":"),
        )

    @staticmethod
    def from_history(raw: str) -> Label | None:
        """A kept history item -> the label with its feedback id; None for one that does not parse."""
        try:
            data = json.loads(raw)
            label = Label(chosen=str(data["chosen"]), rejected=str(data["rejected"]), prompt=data.get("prompt"),
                          messages=data.get("messages"), context=data.get("context"), feedback_id=str(data["id"]),
                          kept_digest=data.get("digest") or None)
        except (ValueError, TypeError, KeyError, RecursionError):
            return None
        return label if (label.prompt is None) != (label.messages is None) else None
