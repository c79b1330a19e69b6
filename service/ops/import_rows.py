"""Preference files -> one user's labels as feedback:batch items, for ``python -m service.ops.import_feedback``.

Files are read exactly as training reads them (model/pair_files.py, model/pair_shapes.py): the
same formats, shapes, fatal problems and skipped rows, plus what online feedback needs: a user
id the service accepts, texts within the server's limits, and a stable feedback id per row.

Feedback ids (idempotency keys; docs/data.md#importing-users-history-as-online-feedback):
``imp-`` + a hash of the user and the row's id column when the file has one (``--id-column``),
else of the user, the label's content (prompt or messages, chosen, rejected, context) and how
many identical labels of that user came before it in this run. So ids survive appending rows,
re-exporting or renaming a file, and a label given twice is imported twice.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model.data import PreferencePair
from model.pair_files import DataError, files_of, shaped_records
from model.pair_shapes import Columns, RowProblem, pair_of
from service.core.ids import ID_PATTERN


@dataclass(frozen=True)
class ServerLimits:
    """The server's request limits (GET /v1/model ``limits``); rows over them are skipped."""

    max_text_chars: int
    max_messages: int
    max_context_chars: int

    @classmethod
    def from_card(cls, limits: Mapping[str, int]) -> ServerLimits:
        return cls(limits["max_text_chars"], limits["max_messages"], limits["max_context_chars"])


@dataclass(frozen=True)
class ImportRow:
    user_id: str
    item: dict[str, Any]  # one feedback:batch item, its feedback_id included
    where: str  # "FILE: row N"


@dataclass
class ImportPlan:
    rows: list[ImportRow] = field(default_factory=list)  # in file order
    skipped: list[str] = field(default_factory=list)  # "FILE: row N: why"
    skipped_kinds: Counter = field(default_factory=Counter)  # kind -> rows
    files: list[str] = field(default_factory=list)  # one summary line per file
    weighted_rows: int = 0  # rows whose weight column is not 1 (online feedback has no weight)

    def skip(self, where: str, kind: str, why: str) -> None:
        self.skipped.append(f"{where}: {why}")
        self.skipped_kinds[kind] += 1

    def by_user(self) -> dict[str, list[ImportRow]]:
        """Rows grouped by user (users in order of first appearance), each in file order."""
        users: dict[str, list[ImportRow]] = {}
        for row in self.rows:
            users.setdefault(row.user_id, []).append(row)
        return users


def plan_import(sources: Sequence[str], columns: Columns, id_column: str | None) -> ImportPlan:
    """Every row of every file, as an item or a skipped row. Raises :class:`DataError` listing
    every fatal problem (a missing or unreadable file, an unknown shape, no user column)."""
    plan, fatal, seen = ImportPlan(), [], Counter()
    for source in sources:
        try:
            paths = files_of(source)
        except DataError as exc:
            fatal.extend(exc.problems)
            continue
        for path in paths:
            try:
                read_file(path, columns, id_column, plan, seen)
            except DataError as exc:
                fatal.extend(exc.problems)
    if fatal:
        raise DataError(fatal)
    return plan


def read_file(path: Path, columns: Columns, id_column: str | None, plan: ImportPlan, seen: Counter) -> None:
    records, unparsable, shape = shaped_records(path, columns, user_column_required=True)
    for line in unparsable:
        plan.skipped.append(line)
        plan.skipped_kinds["not parsable"] += 1
    before = len(plan.rows)
    for number, record in records:
        where = f"{path}: row {number}"
        try:
            pair = pair_of(record, shape, columns, dataset=path.name)
        except RowProblem as problem:
            plan.skip(where, problem.kind, str(problem))
            continue
        problem = usable(pair)
        if problem:
            plan.skip(where, *problem)
            continue
        item = item_of(pair)
        assert pair.user_id is not None
        item["feedback_id"] = feedback_id(pair.user_id, item, row_id(record, id_column), seen)
        plan.rows.append(ImportRow(pair.user_id, item, where))
        plan.weighted_rows += pair.weight != 1.0
    rows = plan.rows[before:]
    plan.files.append(f"{path}: {shape}, {len(records) + len(unparsable)} rows -> {len(rows)} labels, "
                      f"{len({r.user_id for r in rows})} users")


def usable(pair: PreferencePair) -> tuple[str, str] | None:
    """(kind, why) when the service could not take this row's user; None when it can."""
    if pair.user_id is None:
        return "no user id", "no user id"
    if not re.fullmatch(ID_PATTERN, pair.user_id):
        return "bad user id", f"user id {pair.user_id[:40]!r} is not a service id (1-128 of A-Z a-z 0-9 . _ : @ -)"
    return None


def over_limits(item: Mapping[str, Any], limits: ServerLimits) -> str | None:
    """Why the server would refuse this item with 413, or None."""
    messages = item.get("messages") or []
    texts = [item["chosen"], item["rejected"], *(m["content"] for m in messages), item.get("prompt") or ""]
    longest = max(len(t) for t in texts)
    if longest > limits.max_text_chars:
        return f"a text has {longest} characters; the server takes {limits.max_text_chars}"
    if len(messages) > limits.max_messages:
        return f"{len(messages)} messages; the server takes {limits.max_messages}"
    context = item.get("context") or ""
    if len(context) > limits.max_context_chars:
        return f"context has {len(context)} characters; the server takes {limits.max_context_chars}"
    return None


def drop_over_limits(plan: ImportPlan, limits: ServerLimits) -> None:
    """Rows the server would refuse (413) become skipped rows, so that their batch is not lost."""
    kept = []
    for row in plan.rows:
        why = over_limits(row.item, limits)
        if why:
            plan.skip(row.where, "over the server's limits", why)
        else:
            kept.append(row)
    plan.rows = kept


def item_of(pair: PreferencePair) -> dict[str, Any]:
    """The feedback:batch item: chat prompts go as messages, as the service reads them in training."""
    item: dict[str, Any] = {"messages": [dict(m) for m in pair.messages]} if pair.messages else {"prompt": pair.prompt}
    item.update(chosen=pair.chosen, rejected=pair.rejected)
    if pair.context is not None:
        item["context"] = pair.context
    return item


def row_id(record: Any, id_column: str | None) -> str | None:
    value = record.get(id_column) if id_column and isinstance(record, Mapping) else None
    return None if value is None or value == "" else str(value)


def feedback_id(user_id: str, item: Mapping[str, Any], given: str | None, seen: Counter) -> str:
    """A stable idempotency key for the row (module docstring)."""
    if given is not None:
        key = f"id\x1f{user_id}\x1f{given}"
    else:
        content = json.dumps([user_id, item], sort_keys=True, ensure_ascii=False)
        key = f"row\x1f{content}\x1f{seen[content]}"
        seen[content] += 1
    return "imp-" + hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
