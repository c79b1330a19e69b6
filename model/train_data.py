"""The data side of ``python -m model.train``: sources -> pairs -> fit / validation / held-out
slices, every problem found before any model is loaded (so bad input writes nothing).

A problem that stops training raises :class:`model.pair_files.DataError` (the CLI prints one
line per problem and exits 2). Rows that cannot become pairs are skipped, counted and
summarised; with ``strict`` any skipped row is a problem.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from model.data import DATASETS, PreferencePair
from model.pair_files import Columns, DataError, LoadResult, load_sources
from model.provenance import data_fingerprint
from model.splits import MIN_PAIRS, Slice, SplitError, assign_slices, check_sizes

DEFAULT_SOURCES = ("dsp", "relabeled_hh", "hh_refusals")  # the shipped recipe's data
MAX_LISTED_SKIPS = 10  # skipped rows named one per line before "... and N more" (all of them with --strict)


def data_sources(values: Sequence[str] | None) -> list[str]:
    """``--data`` values -> sources. ``dsp,relabeled_hh`` (built-in names joined by commas) still
    means both; any other value is one path."""
    out: list[str] = []
    for value in values or DEFAULT_SOURCES:
        parts = [v.strip() for v in value.split(",")]
        out.extend(parts if len(parts) > 1 and all(v in DATASETS for v in parts) else [value])
    return out


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """The data flags of python -m model.train (docs/data.md)."""
    add_source_arguments(parser)
    parser.add_argument("--refit", choices=REFIT_CHOICES, default="all",
                        help="after early stopping, refit for the picked number of steps on: all pairs (default); "
                        "every pair but the validation slice (keeps validation clean for choosing heads and routing "
                        "on it later); none (keep the model fitted on the fit slice)")
    parser.add_argument("--no-refit", dest="refit", action="store_const", const="none", help="same as --refit none")


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """Which pairs are read, and how (python -m model.train and python -m model.extract_features)."""
    parser.add_argument("--data", action="append", metavar="PATH_OR_NAME",
                        help="training data: a .jsonl/.json/.parquet/.csv file, a directory of them, or a built-in "
                        f"data set ({', '.join(DATASETS)}; 'dsp,relabeled_hh' means both); repeat for more "
                        f"(default: {','.join(DEFAULT_SOURCES)})")
    parser.add_argument("--val-data", action="append", metavar="PATH",
                        help="validation data (repeatable): then all --data pairs are fit, and these pairs are halved "
                        "by prompt hash into validation (early stopping, per-user head choice) and held-out (reported)")
    parser.add_argument("--user-column", default=None,
                        help="name of the user id column (default user_id, optional); when given, every file must have it")
    parser.add_argument("--strict", action="store_true", help="any row that cannot be used is an error (exit 2)")
    parser.add_argument("--system-as-context", action="store_true",
                        help="in chat rows without a context column, read the system messages as the row's stated "
                        "context (for files whose system messages carry each user's preference; default: not read)")
    parser.add_argument("--data-root", type=Path, default=None,
                        help="folder holding dsp/ and relabeled_hh/ (default ../shared/data)")


REFIT_CHOICES = ("all", "except-validation", "none")


@dataclass
class PreparedData:
    train: LoadResult
    val: LoadResult | None
    slices: list[Slice]  # one per pair of train + val, in order
    counts: dict[str, int]  # pairs per slice

    @property
    def pairs(self) -> list[PreferencePair]:
        return self.train.pairs + (self.val.pairs if self.val else [])

    def indices(self, name: Slice) -> list[int]:
        return [i for i, s in enumerate(self.slices) if s == name]

    def refit_indices(self, refit: str) -> list[int] | None:
        """The pairs a ``--refit`` choice refits on (None: no refit)."""
        if refit == "none":
            return None
        return [i for i, s in enumerate(self.slices) if refit == "all" or s != "validation"]

    def record(self) -> dict[str, Any]:
        """What config.json keeps about the data."""
        reports = self.train.reports + (self.val.reports if self.val else [])
        return {
            "fingerprint": data_fingerprint([r.sha256 for r in reports]),
            "sources": [r.as_dict() for r in self.train.reports],
            "val_sources": [r.as_dict() for r in self.val.reports] if self.val else [],
            "shapes": sorted({r.shape for r in reports}),
            "rows": sum(r.rows for r in reports),
            "pairs": len(self.pairs),
            "rows_skipped": sum(sum(r.skipped.values()) for r in reports),
            "users": len({p.user_id for p in self.pairs if p.user_id is not None}),
            "weighted_rows": sum(1 for p in self.pairs if p.weight != 1.0),
            "slices": self.counts,
            "min_pairs": MIN_PAIRS,
        }


def skipped_lines(skipped: Sequence[str], limit: int | None) -> list[str]:
    if limit is None or len(skipped) <= limit:
        return list(skipped)
    return [*skipped[:limit], f"... and {len(skipped) - limit} more skipped rows"]


def prepare_data(
    sources: Sequence[str],
    val_sources: Sequence[str] | None = None,
    *,
    user_column: str | None = None,
    strict: bool = False,
    data_root: Path | None = None,
    out: TextIO | None = None,
    system_as_context: bool = False,
) -> PreparedData:
    """Load and check everything; print what each file gave (to ``out``, default stderr). Raises DataError."""
    out = out or sys.stderr
    columns = Columns(user=user_column or Columns.user, system_as_context=system_as_context)
    options = {"columns": columns, "user_column_required": user_column is not None, "data_root": data_root}
    problems: list[str] = []
    loaded: list[LoadResult | None] = []
    for group in (sources, val_sources):
        try:
            loaded.append(load_sources(group, **options) if group else None)
        except DataError as exc:
            problems.extend(exc.problems)
    if problems:
        raise DataError(problems)
    train, val = loaded
    assert train is not None
    for report in train.reports + (val.reports if val else []):
        print(f"data: {report.summary()}", file=out)
    skipped = train.skipped + (val.skipped if val else [])
    if skipped and strict:
        raise DataError([*skipped, f"--strict: {len(skipped)} rows cannot be used"])
    for line in skipped_lines(skipped, MAX_LISTED_SKIPS):
        print(f"skipped: {line}", file=out)
    slices = assign_slices(train.pairs, val.pairs if val else None)
    try:
        counts = check_sizes(len(train.pairs), slices)
    except SplitError as exc:
        raise DataError([f"{', '.join(sources)}: {exc}"]) from exc
    print(f"data: {counts['fit']} fit, {counts['validation']} validation, {counts['held_out']} held-out pairs", file=out)
    return PreparedData(train, val, slices, counts)
