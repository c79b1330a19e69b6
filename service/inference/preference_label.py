"""One label as the engine takes it, and as the user's history keeps it (JSON) across model versions:
at most HISTORY_ITEM_MAX_BYTES a label (what a replay needs: the end of the prompt or of the chat, the
start of each response and of the context, as the backbone's window reads them; docs/security.md)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from model.backbone import Message


HISTORY_ITEM_MAX_BYTES = 64 * 1024  # one kept label, JSON, UTF-8


def head(text: str, max_bytes: int) -> str:
    """The start of ``text``, at most ``max_bytes`` of UTF-8 (never a broken character)."""
    return text.encode()[:max_bytes].decode("utf-8", "ignore")


def tail(text: str, max_bytes: int) -> str:
    """The end of ``text``, at most ``max_bytes`` of UTF-8."""
    return text.encode()[-max_bytes:].decode("utf-8", "ignore") if max_bytes > 0 else ""


def last_messages(messages: Sequence[Message], max_bytes: int) -> list[Message]:
    """The chat's last messages whose contents fit ``max_bytes`` (the earliest kept one cut from its start)."""
    kept: list[Message] = []
    for message in reversed(messages):
        size = len(message["content"].encode())
        if size > max_bytes:
            if max_bytes > 0 or not kept:
                kept.append({**message, "content": tail(message["content"], max_bytes)})
            break
        kept.append(dict(message))  # type: ignore[arg-type]
        max_bytes -= size
    return kept[::-1]


@dataclass(frozen=True)
class Label:
    """One label as the engine takes it."""

    chosen: str
    rejected: str
    prompt: str | None = None
    messages: Sequence[Message] | None = None
    context: str | None = None  # overrides the stored context for this label
    feedback_id: str | None = None
    # a kept label's digest, as it was first posted (its texts may be cut since); not part of what the label says
    kept_digest: str | None = field(default=None, compare=False)

    def digest(self) -> str:
        """What the label says, hashed: a feedback_id reused with another label is told apart (409)."""
        if self.kept_digest:
            return self.kept_digest
        content = [self.prompt, list(self.messages) if self.messages else None, self.chosen, self.rejected,
                   self.context]
        text = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()

    def to_history(self, feedback_id: str) -> str:
        """The label as kept in the user's history (JSON; service/inference/user_history.py replays it), at most
        HISTORY_ITEM_MAX_BYTES: each text cut to a quarter of it (the prompt and the chat keep their end, the
        responses and the context their start), less while the JSON is still over."""
        budget = HISTORY_ITEM_MAX_BYTES // 4 - 256
        while True:
            item = json.dumps(
                {"id": feedback_id, "prompt": tail(self.prompt, budget) if self.prompt is not None else None,
                 "messages": last_messages(self.messages, budget) if self.messages else None,
                 "chosen": head(self.chosen, budget), "rejected": head(self.rejected, budget),
                 "context": head(self.context, budget) if self.context is not None else None,
                 "digest": self.digest()},
                ensure_ascii=False, separators=(",", ":"),
            )
            if len(item.encode()) <= HISTORY_ITEM_MAX_BYTES or budget == 0:
                return item
            budget //= 2

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
