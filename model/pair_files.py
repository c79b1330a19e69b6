"""Preference files -> preference pairs, with every problem named by file and row.

A source is a built-in data set name (``dsp``, ``relabeled_hh``, ``hh_refusals``), a ``.jsonl`` / ``.json`` /
``.parquet`` / ``.csv`` file, or a directory of them (searched recursively). Parquet and CSV are
read with pyarrow. Each file's row shape is detected (model/pair_shapes.py) and reported. A row
that cannot become a pair is skipped and counted; a file that cannot be read, or whose shape is
unknown, is a fatal problem. Row numbers start at 1: the line number in JSON lines, the element
index in a JSON list, the data row (header excluded) in CSV and Parquet.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model.data import DATASETS, PreferencePair, Split, default_data_root, load_pairs
from model.pair_shapes import SHAPES, Columns, RowProblem, detect_shape, pair_of, type_name

SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")
TEXT_COLUMNS = ("prompt", "chosen", "rejected", "context")  # read as text from CSV, even "42"


class DataError(Exception):
    """Input that cannot be trained on; ``problems`` holds one line per problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


@dataclass
class SourceReport:
    """What one file (or built-in data set) gave."""

    source: str
    shape: str  # a key of pair_shapes.SHAPES, or "built-in"
    rows: int = 0
    pairs: int = 0
    users: int = 0
    sha256: str = ""  # of the file's bytes (built-in: of the pairs' text)
    skipped: Counter = field(default_factory=Counter)  # problem kind -> rows

    def summary(self) -> str:
        shape = f"{self.shape} ({SHAPES[self.shape]})" if self.shape in SHAPES else f"{self.shape} data set"
        line = f"{self.source}: {shape}, {self.rows} rows -> {self.pairs} pairs"
        if self.users:
            line += f", {self.users} users"
        if self.skipped:
            kinds = ", ".join(f"{n} {kind}" for kind, n in self.skipped.most_common())
            line += f"; skipped {sum(self.skipped.values())} rows ({kinds})"
        return line

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "shape": self.shape, "rows": self.rows, "pairs": self.pairs,
                "users": self.users, "sha256": self.sha256, "skipped": dict(self.skipped)}


@dataclass
class LoadResult:
    pairs: list[PreferencePair]
    reports: list[SourceReport]
    skipped: list[str]  # one line per skipped row: "file: row N: what is wrong"


def read_records(path: Path, columns: Columns) -> tuple[list[tuple[int, Any]], list[str]]:
    """(row number, record) of a file and the rows that could not be parsed at all.
    Raises :class:`DataError` when the file cannot be read."""
    try:
        suffix = path.suffix.lower()
        if suffix == ".jsonl":
            return read_jsonl(path)
        if suffix == ".json":
            return read_json(path), []
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return list(enumerate(pq.read_table(path).to_pylist(), start=1)), []
        return read_csv(path, columns)
    except DataError:
        raise
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise DataError([f"{path}: cannot be read: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"]) from exc


def read_jsonl(path: Path) -> tuple[list[tuple[int, Any]], list[str]]:
    records, bad = [], []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                records.append((number, json.loads(line.rstrip("\r\n"))))  # error columns on this line
            except json.JSONDecodeError as exc:
                bad.append(f"{path}: row {number}: not valid JSON ({exc.msg} at column {exc.colno})")
    return records, bad


def read_json(path: Path) -> list[tuple[int, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError([f"{path}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"]) from exc
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        raise DataError([f"{path}: expected a JSON list of rows (or {{\"data\": [...]}}), got a JSON {type(data).__name__}"])
    return list(enumerate(data, start=1))


def read_csv(path: Path, columns: Columns) -> tuple[list[tuple[int, Any]], list[str]]:
    """Rows of a CSV file with a header. A row with the wrong number of columns makes the file
    unusable (the rows after it could not be numbered reliably): every such line is named."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    broken: list[str] = []

    def note_broken_row(row: Any) -> str:
        broken.append(f"{path}: line {row.number}: expected {row.expected_columns} columns, got {row.actual_columns}")
        return "skip"

    text = {name: pa.string() for name in (*TEXT_COLUMNS, columns.user)}
    table = pcsv.read_csv(
        path,
        read_options=pcsv.ReadOptions(use_threads=False),  # in order, with line numbers
        parse_options=pcsv.ParseOptions(invalid_row_handler=note_broken_row, newlines_in_values=True),
        convert_options=pcsv.ConvertOptions(column_types=text, strings_can_be_null=False),
    )
    if broken:
        raise DataError(broken)
    return list(enumerate(table.to_pylist(), start=1)), []


def files_of(source: str) -> list[Path]:
    """The files a source names: itself, or the preference files under a directory."""
    path = Path(source).expanduser()
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
        if not found:
            raise DataError([f"{source}: directory holds no {', '.join(SUFFIXES)} files"])
        return found
    if not path.exists():
        hint = f" (built-in data sets: {', '.join(DATASETS)})" if "/" not in source and "." not in source else ""
        raise DataError([f"{source}: no such file or directory{hint}"])
    if path.suffix.lower() not in SUFFIXES:
        raise DataError([f"{source}: unsupported file type {path.suffix or '(none)'}; use {', '.join(SUFFIXES)}"])
    return [path]


def shaped_records(
    path: Path, columns: Columns, user_column_required: bool
) -> tuple[list[tuple[int, Any]], list[str], str]:
    """A file's (row number, record)s, its unparsable lines and its detected shape; DataError when
    it has no rows, an unknown shape, or (required) no user column."""
    records, unparsable = read_records(path, columns)
    if not records:
        raise DataError([f"{path}: no rows", *unparsable])
    values = [record for _, record in records]
    shape = detect_shape(values)
    if shape is None:
        raise DataError([f"{path}: unknown shape: {why_unknown(values)}"])
    if user_column_required and not any(isinstance(r, dict) and columns.user in r for r in values):
        raise DataError([f"{path}: has no user column {columns.user!r} (--user-column)"])
    return records, unparsable, shape


def load_file(path: Path, columns: Columns, user_column_required: bool) -> tuple[list[PreferencePair], SourceReport, list[str]]:
    records, skipped, shape = shaped_records(path, columns, user_column_required)
    report = SourceReport(str(path), shape=shape, rows=len(records) + len(skipped), sha256=sha256_of(path))
    if skipped:
        report.skipped["not parsable"] = len(skipped)
    pairs = []
    for number, record in records:
        try:
            pairs.append(pair_of(record, shape, columns, dataset=path.name))
        except RowProblem as problem:
            report.skipped[problem.kind] += 1
            skipped.append(f"{path}: row {number}: {problem}")
    report.pairs = len(pairs)
    report.users = len({p.user_id for p in pairs if p.user_id is not None})
    return pairs, report, skipped


def why_unknown(values: Sequence[Any]) -> str:
    seen = sorted({k for r in values if isinstance(r, dict) for k in r})
    if {"chosen", "rejected"} <= set(seen):
        first = next(r["chosen"] for r in values if isinstance(r, dict) and r.get("chosen") is not None)
        return f"'chosen' holds {type_name(first)}; expected text or a chat message list"
    return (f"columns {seen or 'none'}; expected chosen + rejected (strings, chat message lists or HH "
            "transcripts), optionally with prompt")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def builtin_report(name: str, pairs: Sequence[PreferencePair]) -> SourceReport:
    digest = hashlib.sha256()
    for p in pairs:
        digest.update(f"{p.prompt}\x1f{p.chosen}\x1f{p.rejected}\x1f{p.user_type}\x1e".encode())
    return SourceReport(name, "built-in", rows=len(pairs), pairs=len(pairs), sha256=digest.hexdigest())


def iter_sources(sources: Sequence[str]) -> Iterator[tuple[str, bool]]:
    """(source, is built-in name) for each source; an existing path wins over a built-in name."""
    for source in sources:
        yield source, source in DATASETS and not Path(source).exists()


def load_sources(
    sources: Sequence[str],
    *,
    columns: Columns | None = None,
    user_column_required: bool = False,
    data_root: Path | None = None,
    builtin_split: Split = "train",
) -> LoadResult:
    """Every source's pairs, in order. Raises :class:`DataError` listing *every* fatal problem
    (unreadable files, unknown shapes) of all sources at once; skipped rows are returned."""
    columns = columns or Columns()
    pairs: list[PreferencePair] = []
    reports: list[SourceReport] = []
    skipped: list[str] = []
    fatal: list[str] = []
    for source, builtin in iter_sources(sources):
        if builtin:
            try:
                got = load_pairs([source], data_root, split=builtin_split)
            except (OSError, ValueError, KeyError) as exc:
                fatal.append(f"{source}: built-in data set cannot be read under {data_root or default_data_root()}: {exc}")
                continue
            pairs.extend(got)
            reports.append(builtin_report(source, got))
            continue
        try:
            for path in files_of(source):
                try:
                    got, report, bad = load_file(path, columns, user_column_required)
                except DataError as exc:
                    fatal.extend(exc.problems)
                    continue
                pairs.extend(got)
                reports.append(report)
                skipped.extend(bad)
        except DataError as exc:
            fatal.extend(exc.problems)
    if fatal:
        raise DataError(fatal)
    return LoadResult(pairs, reports, skipped)
