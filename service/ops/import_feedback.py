"""python -m service.ops.import_feedback PATH [PATH ...]: each user's labelled pairs -> online feedback.

A team moving from a static reward model brings its users' history on day one: every row with a
user id becomes one label of that user, posted to a running service through
``POST /v1/users/{id}/feedback:batch`` (so the service's auth, tenants, limits and idempotency
apply). Files are read as ``python -m model.train --data`` reads them (service/ops/import_rows.py).

- in order: a user's labels are sent in file order, in batches of at most ``--batch-size``
  (and the server's MICRO_MAX_FEEDBACK_ITEMS); each batch is one atomic script run in Redis;
- idempotent and resumable: every row has a stable feedback id, so re-running the same import
  (after a failure, or to add rows appended since) applies only what is not there yet, and
  reports it as "already present" (also a row of an id column edited since: the service's 409
  for an id reused with another label makes that batch go one label at a time). The service remembers ids for MICRO_FEEDBACK_ID_TTL_S (a day
  by default): re-running after that applies the rows again (docs/data.md);
- exit 2 on bad input (nothing sent), 1 when the server refuses or cannot be reached (re-run
  to resume), 0 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

import httpx
from tqdm import tqdm

from model.pair_files import DataError
from service.core.errors import FeedbackIdReused
from model.pair_shapes import Columns
from service.ops.import_rows import ImportPlan, ImportRow, ServerLimits, drop_over_limits, plan_import

DEFAULT_URL = "http://127.0.0.1:8000"
# busy, Redis away, or over the request timeout: wait (Retry-After) and send the same batch again (its
# labels are idempotent: what the first attempt applied is not applied twice)
RETRY_STATUSES = (429, 503, 504)
DEFAULT_BATCH = 64  # labels per request: ~200 texts, ~10 s of a CPU backbone at worst, far below the 60 s timeout
MAX_WAIT_S = 30.0  # cap on one wait between attempts
SHOW_SKIPPED = 10  # skipped rows named one by one; the rest are counted


class ImportFailed(Exception):
    """The server refused a batch or could not be reached after the retries."""


@dataclass
class Totals:
    sent: int = 0  # labels the server answered for
    applied: int = 0
    already_present: int = 0
    users_done: set[str] = field(default_factory=set)


class FeedbackSender:
    """The service's HTTP API, as the import uses it; 429/503 and transport errors are retried."""

    def __init__(self, url: str, api_key: str | None, *, timeout_s: float = 120.0, max_retries: int = 8) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout_s)
        self.max_retries = max_retries

    def close(self) -> None:
        self.http.close()

    def limits(self) -> dict[str, int]:
        """The server's request limits (GET /v1/model)."""
        return self._request("GET", "/v1/model").json()["limits"]

    def send(self, user_id: str, items: Sequence[dict]) -> list[bool]:
        """One batch of one user's labels -> per label, whether this call applied it. A row whose id was
        applied with another content (edited since: the server's 409, nothing of the batch applied) is
        already present: the batch is then sent one label at a time, each such row counted so."""
        path = f"/v1/users/{quote(user_id, safe='')}/feedback:batch"
        reply = self._request("POST", path, {"items": list(items)}, edited_ok=True)
        if id_reused(reply):
            if len(items) == 1:
                return [False]
            return [applied for item in items for applied in self.send(user_id, [item])]
        return [bool(r["applied"]) for r in reply.json()["results"]]

    def _request(self, method: str, path: str, body: dict | None = None, edited_ok: bool = False) -> httpx.Response:
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            try:
                reply = self.http.request(method, path, json=body)
            except httpx.TransportError as exc:
                if last:
                    raise ImportFailed(f"{self.http.base_url} cannot be reached: {type(exc).__name__}: {exc}") from exc
                time.sleep(min(MAX_WAIT_S, 0.5 * 2**attempt))
                continue
            if reply.is_success or (edited_ok and id_reused(reply)):
                return reply
            if last or reply.status_code not in RETRY_STATUSES:
                raise ImportFailed(f"{method} {path}: {reply.status_code} {problem_text(reply)}")
            time.sleep(min(MAX_WAIT_S, float(reply.headers.get("retry-after") or 0.5 * 2**attempt)))
        raise AssertionError("unreachable")


def id_reused(reply: httpx.Response) -> bool:
    """The service's 409 for a feedback_id applied before with another label (not its other 409s)."""
    try:
        return reply.status_code == 409 and reply.json().get("title") == FeedbackIdReused.title
    except ValueError:
        return False


def problem_text(reply: httpx.Response) -> str:
    try:
        problem = reply.json()
        return f"{problem.get('title', '')}: {problem.get('detail', '')}"
    except ValueError:
        return reply.text[:200]


def batches(rows: Sequence[ImportRow], max_items: int, max_bytes: int) -> Iterator[list[ImportRow]]:
    """One user's rows, in order, cut into batches of at most ``max_items`` labels whose request
    body stays under ``max_bytes`` (a single larger row goes alone; the server then refuses it)."""
    batch: list[ImportRow] = []
    size = 0
    for row in rows:
        row_bytes = len(json.dumps(row.item, ensure_ascii=False).encode()) + 2
        if batch and (len(batch) == max_items or size + row_bytes > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(row)
        size += row_bytes
    if batch:
        yield batch


def send_all(plan: ImportPlan, sender: FeedbackSender, batch_size: int, limits: dict[str, int],
             totals: Totals) -> None:
    """Each user's labels in order, batch by batch; ``totals`` counts as it goes (also on failure)."""
    users = plan.by_user()
    max_items = min(batch_size, limits.get("max_feedback_items", batch_size))
    max_bytes = limits.get("max_body_bytes", 8 << 20) // 2  # headroom for the JSON around the items
    with tqdm(total=len(plan.rows), unit="label", desc="import", disable=None, file=sys.stderr) as bar:
        for user_id, rows in users.items():
            for batch in batches(rows, max_items, max_bytes):
                applied = sender.send(user_id, [row.item for row in batch])
                totals.sent += len(applied)
                totals.applied += sum(applied)
                totals.already_present += len(applied) - sum(applied)
                bar.update(len(batch))
            totals.users_done.add(user_id)


def report(plan: ImportPlan, totals: Totals | None, *, strict: bool = False) -> list[str]:
    """The summary: files, users, rows, applied, already present, skipped rows with reasons."""
    lines = [f"file: {line}" for line in plan.files]
    users = len(plan.by_user())
    rows = len(plan.rows) + sum(plan.skipped_kinds.values())
    lines.append(f"import: {users} users, {rows} rows -> {len(plan.rows)} labels")
    if totals is not None:
        lines.append(f"  applied {totals.applied}, already present {totals.already_present}"
                     f" (sent {totals.sent} of {len(plan.rows)}; {len(totals.users_done)} of {users} users done)")
    if plan.skipped_kinds:
        kinds = ", ".join(f"{n} {kind}" for kind, n in plan.skipped_kinds.most_common())
        lines.append(f"  skipped {sum(plan.skipped_kinds.values())} rows ({kinds})")
        shown = plan.skipped if strict else plan.skipped[:SHOW_SKIPPED]
        lines += [f"skipped: {line}" for line in shown]
        if len(plan.skipped) > len(shown):
            lines.append(f"skipped: ... and {len(plan.skipped) - len(shown)} more")
    if plan.weighted_rows:
        lines.append(f"note: {plan.weighted_rows} rows have a weight other than 1; online feedback applies "
                     "each label once, unweighted")
    return lines


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m service.ops.import_feedback", description="Import each user's labelled pairs into a running service as online feedback "
                                "(docs/data.md#importing-users-history-as-online-feedback).")
    p.add_argument("paths", nargs="+", metavar="PATH", help=".jsonl/.json/.parquet/.csv files or directories")
    p.add_argument("--user-column", default="user_id", help="the column naming each row's user (default user_id)")
    p.add_argument("--id-column", default="id", help="a column with a stable row id, used when present (default id)")
    p.add_argument("--url", default=os.environ.get("MICRO_URL", DEFAULT_URL), help="the service (env MICRO_URL)")
    p.add_argument("--api-key", default=os.environ.get("MICRO_API_KEY"), help="a write key (env MICRO_API_KEY)")
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH,
                   help=f"labels per request (default {DEFAULT_BATCH}; at most the server's MICRO_MAX_FEEDBACK_ITEMS)")
    p.add_argument("--retries", type=int, default=8, help="attempts after a 429/503/504 or a connection error")
    p.add_argument("--strict", action="store_true", help="any skipped row is an error (exit 2, nothing sent)")
    p.add_argument("--dry-run", action="store_true", help="read and report; send nothing (no server needed)")
    args = p.parse_args(argv)
    if args.batch_size < 1 or args.retries < 0:
        p.error("--batch-size must be at least 1 and --retries at least 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        plan = plan_import(args.paths, Columns(user=args.user_column), args.id_column)
    except DataError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    if args.strict and plan.skipped:
        print("\n".join(report(plan, None, strict=True)))
        print(f"error: --strict: {len(plan.skipped)} rows skipped; nothing sent", file=sys.stderr)
        return 2
    if not plan.rows:
        print("\n".join(report(plan, None)))
        print("error: no usable labels (each needs a user id and a valid pair)", file=sys.stderr)
        return 2
    if args.dry_run:
        print("\n".join(report(plan, None)))
        return 0
    sender, totals = FeedbackSender(args.url, args.api_key, max_retries=args.retries), Totals()
    try:
        limits = sender.limits()
        drop_over_limits(plan, ServerLimits.from_card(limits))
        send_all(plan, sender, args.batch_size, limits, totals)
    except ImportFailed as exc:
        print("\n".join(report(plan, totals)))
        print(f"error: {exc}; what was sent before is applied: re-run the same command to resume", file=sys.stderr)
        return 1
    finally:
        sender.close()
    print("\n".join(report(plan, totals)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
