"""Write a slice of the shipped DSP data as a preference file in TRL format with user ids:
one row ``{"prompt", "chosen", "rejected", "user_id"}`` per pair, the user id being the DSP
user type (``academy``, ``business``, ``entertainment``, ``literature``), or ``<type>-<n>``
with ``--users-per-type n`` (each type's queries dealt round-robin to its n users).

Only the *train* split is exported (the test split stays for evaluation). DSP is CC BY-NC 4.0:
research and testing use only (../shared/data/README.md).

    python -m model.export_pairs --queries 200 --out /tmp/dsp_pairs.jsonl
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from model.data import DSP_DOMAINS, dsp_pairs_of, load_dsp_items

FORMATS = (".jsonl", ".parquet", ".csv")


def export_rows(queries: int, users_per_type: int = 1, data_root: Path | None = None) -> list[dict[str, Any]]:
    """TRL-format rows of the first ``queries`` train-split DSP queries, for every user type."""
    items = load_dsp_items(data_root, split="train")[:queries]
    rows = []
    for index, item in enumerate(items):
        for user_type in DSP_DOMAINS:
            user = user_type if users_per_type == 1 else f"{user_type}-{index % users_per_type + 1}"
            rows.extend(
                {"prompt": p.prompt, "chosen": p.chosen, "rejected": p.rejected, "user_id": user}
                for p in dsp_pairs_of(item, user_type)
                if p.chosen.strip() and p.rejected.strip() and p.chosen.strip() != p.rejected.strip()
                # a few DSP queries have an empty response, or repeat one verbatim
            )
    return rows


def write_rows(rows: Sequence[dict[str, Any]], out: Path) -> None:
    """JSON lines, Parquet or CSV by the file's suffix (Parquet and CSV through pyarrow)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".jsonl":
        out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        return
    import pyarrow as pa

    table = pa.Table.from_pylist(list(rows))
    if out.suffix == ".parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, out)
    else:
        import pyarrow.csv as pcsv

        pcsv.write_csv(table, out)


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m model.export_pairs", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--queries", type=int, default=200, help="train-split DSP queries to export (16 pairs each)")
    p.add_argument("--users-per-type", type=int, default=1, help="user ids per DSP user type")
    p.add_argument("--data-root", type=Path, default=None, help="folder holding dsp/ (default ../shared/data)")
    p.add_argument("--out", type=Path, required=True, help=f"output file: {', '.join(FORMATS)}")
    args = p.parse_args(argv)
    if args.out.suffix not in FORMATS:
        p.error(f"--out must end in {', '.join(FORMATS)}")
    if args.queries < 1 or args.users_per_type < 1:
        p.error("--queries and --users-per-type must be at least 1")
    rows = export_rows(args.queries, args.users_per_type, args.data_root)
    write_rows(rows, args.out)
    print(f"wrote {len(rows)} pairs ({len({r['user_id'] for r in rows})} users) to {args.out}")


if __name__ == "__main__":
    main()
