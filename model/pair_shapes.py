"""Row shapes of preference files, detected per file, and one row -> one :class:`PreferencePair`.

Shapes (docs/data.md):
  prompt_chosen_rejected  ``prompt`` + ``chosen`` + ``rejected`` strings (TRL / OpenRLHF)
  chosen_rejected         ``chosen`` + ``rejected`` strings; the prompt is their common prefix
  messages                ``chosen`` / ``rejected`` (and optionally ``prompt``) as chat-message lists
  hh_transcript           ``chosen`` / ``rejected`` HH transcripts ("\\n\\nHuman: ... \\n\\nAssistant: ...")

Optional columns: a user id (``user_id`` unless renamed), ``context``, ``weight``. A row that
cannot become a pair raises :class:`RowProblem` saying what is wrong, in words.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from model.data import PreferencePair
from model.text_format import render_messages, system_context

SHAPES = {
    "prompt_chosen_rejected": "prompt + chosen + rejected strings",
    "chosen_rejected": "chosen + rejected strings, implicit prompt (their common prefix)",
    "messages": "chat message lists",
    "hh_transcript": "HH transcripts (Human:/Assistant: turns)",
}
HH_ASSISTANT = "\n\nAssistant:"
HH_HUMAN = "\n\nHuman:"
ROLES = ("system", "user", "assistant", "tool")


class RowProblem(ValueError):
    """One row cannot become a preference pair; the message says why (without the row number)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind  # short category for the summary: "missing text", "identical", ...


@dataclass(frozen=True)
class Columns:
    """Names of the optional columns."""

    user: str = "user_id"
    context: str = "context"
    weight: str = "weight"
    # a chat row without a context column: its system messages as the context (training only, opt-in:
    # python -m model.train / model.fit_router --system-as-context); feedback imports never set it
    system_as_context: bool = False


def detect_shape(records: Sequence[Any]) -> str | None:
    """The shape of a file: it needs ``chosen`` and ``rejected`` columns; the first record with a
    ``chosen`` value tells strings from message lists. None when unknown."""
    columns = {key for record in records if isinstance(record, Mapping) for key in record}
    if not {"chosen", "rejected"} <= columns:
        return None
    for record in records:
        if not isinstance(record, Mapping) or record.get("chosen") is None:
            continue
        chosen = record["chosen"]
        if isinstance(chosen, list):
            return "messages"
        if not isinstance(chosen, str):
            return None
        if record.get("prompt") is not None:
            return "prompt_chosen_rejected"
        if HH_ASSISTANT in chosen and (chosen.startswith(HH_HUMAN) or chosen.lstrip().startswith("Human:")):
            return "hh_transcript"
        return "chosen_rejected"
    return None


def pair_of(record: Any, shape: str, columns: Columns, dataset: str) -> PreferencePair:
    """One record of a file of ``shape`` -> a preference pair, or :class:`RowProblem`."""
    if not isinstance(record, Mapping):
        raise RowProblem("wrong type", f"expected an object with named fields, got {type_name(record)}")
    if shape == "messages":
        prompt, chosen, rejected, messages = from_messages(record)
    elif shape == "hh_transcript":
        prompt, chosen, rejected = from_transcripts(text_field(record, "chosen"), text_field(record, "rejected"))
        messages = None
    elif shape == "chosen_rejected":
        prompt, chosen, rejected = split_common_prefix(text_field(record, "chosen"), text_field(record, "rejected"))
        messages = None
    else:
        prompt = text_field(record, "prompt")
        chosen, rejected, messages = text_field(record, "chosen"), text_field(record, "rejected"), None
    if chosen.strip() == rejected.strip():
        raise RowProblem("identical", "chosen is identical to rejected")
    return PreferencePair(
        prompt=prompt,
        chosen=chosen,
        rejected=rejected,
        user_type="",
        dataset=dataset,
        user_id=user_of(record, columns.user),
        context=optional_text(record, columns.context) or (system_context(messages) if columns.system_as_context else None),
        weight=weight_of(record, columns.weight),
        messages=messages,
    )


def type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "a boolean", int: "an integer",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def text_field(record: Mapping[str, Any], name: str) -> str:
    """A required, non-empty text field."""
    if name not in record:
        raise RowProblem("missing text", f"'{name}' is missing")
    value = record[name]
    if value is None:
        raise RowProblem("missing text", f"'{name}' is empty (null)")
    if not isinstance(value, str):
        raise RowProblem("wrong type", f"'{name}' should be text, got {type_name(value)}")
    if not value.strip():
        raise RowProblem("missing text", f"'{name}' is empty")
    return value


def is_blank(value: Any) -> bool:
    """Absent for an optional field: null, or text of only whitespace."""
    return value is None or (isinstance(value, str) and not value.strip())


def optional_text(record: Mapping[str, Any], name: str) -> str | None:
    value = record.get(name)
    if is_blank(value):
        return None
    if not isinstance(value, str):
        raise RowProblem("wrong type", f"'{name}' should be text, got {type_name(value)}")
    return value


def user_of(record: Mapping[str, Any], name: str) -> str | None:
    value = record.get(name)
    if is_blank(value):
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise RowProblem("wrong type", f"'{name}' (user id) should be text or an integer, got {type_name(value)}")
    return str(value).strip()


def weight_of(record: Mapping[str, Any], name: str) -> float:
    value = record.get(name)
    if value is None:
        return 1.0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise RowProblem("bad weight", f"'{name}' should be a positive number, got {value!r}")
    return float(value)


def split_common_prefix(chosen: str, rejected: str) -> tuple[str, str, str]:
    """Implicit prompt: the common prefix of the two texts, cut back to its last line break
    (else its last whitespace) so that no response starts in the middle of a line or a word."""
    common = os.path.commonprefix([chosen, rejected])
    cut = common.rfind("\n") + 1
    if cut == 0:
        cut = max((i + 1 for i, ch in enumerate(common) if ch.isspace()), default=0)
    prompt = common[:cut].strip()
    chosen_part, rejected_part = chosen[cut:].strip(), rejected[cut:].strip()
    if not chosen_part or not rejected_part:
        raise RowProblem("identical", "one response is the other's beginning: nothing is left after the common prefix")
    return prompt, chosen_part, rejected_part


def from_transcripts(chosen: str, rejected: str) -> tuple[str, str, str]:
    """HH transcripts: the prompt is the shared dialogue before the last assistant turn."""
    cuts = []
    for name, text in (("chosen", chosen), ("rejected", rejected)):
        at = text.rfind(HH_ASSISTANT)
        if at < 0:
            raise RowProblem("malformed transcript", f"'{name}' has no '\\n\\nAssistant:' turn")
        cuts.append((text[:at], text[at + len(HH_ASSISTANT):].strip()))
    (prompt_c, answer_c), (prompt_r, answer_r) = cuts
    if prompt_c.strip() != prompt_r.strip():
        raise RowProblem("malformed transcript", "chosen and rejected differ before the last Assistant turn")
    if not answer_c or not answer_r:
        raise RowProblem("missing text", f"the last Assistant turn of '{'chosen' if not answer_c else 'rejected'}' is empty")
    return prompt_c.strip(), answer_c, answer_r


def message_list(value: Any, name: str) -> list[dict[str, str]]:
    if not isinstance(value, list):
        raise RowProblem("malformed messages", f"'{name}' should be a list of messages, got {type_name(value)}")
    out = []
    for i, message in enumerate(value, start=1):
        if not isinstance(message, Mapping):
            raise RowProblem("malformed messages", f"'{name}' message {i} should be an object, got {type_name(message)}")
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            raise RowProblem("malformed messages", f"'{name}' message {i} has role {role!r}, not one of {', '.join(ROLES)}")
        if not isinstance(content, str):
            raise RowProblem("malformed messages", f"'{name}' message {i} has no text 'content' (got {type_name(content)})")
        out.append({"role": role, "content": content})
    return out


def from_messages(record: Mapping[str, Any]) -> tuple[str, str, str, tuple[dict[str, str], ...] | None]:
    """Chat lists: (explicit prompt +) chosen / rejected conversations ending with an assistant turn;
    the prompt is the shared conversation before it, the responses are the two last turns."""
    for name in ("chosen", "rejected"):
        if record.get(name) is None:
            raise RowProblem("missing text", f"'{name}' is missing")
    prompt = record.get("prompt")
    if isinstance(prompt, str):
        head = [{"role": "user", "content": prompt}] if prompt.strip() else []
    else:
        head = message_list(prompt, "prompt") if prompt is not None else []
    chosen = head + message_list(record["chosen"], "chosen")
    rejected = head + message_list(record["rejected"], "rejected")
    for name, conversation in (("chosen", chosen), ("rejected", rejected)):
        if not conversation or conversation[-1]["role"] != "assistant":
            raise RowProblem("malformed messages", f"'{name}' does not end with an assistant message")
        if not conversation[-1]["content"].strip():
            raise RowProblem("missing text", f"the last assistant message of '{name}' is empty")
    if chosen[:-1] != rejected[:-1]:
        raise RowProblem("malformed messages", "chosen and rejected differ before the last assistant message")
    context = tuple(chosen[:-1])
    prompt_text = render_messages(context) if context else ""
    return prompt_text, chosen[-1]["content"], rejected[-1]["content"], context or None
