"""Preference files of every shape, written in tests: rows with distinct prompts (so that every
prompt-hash slice gets some) and, on request, a user id per row."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

USERS = ("ann", "bob")


def texts(i: int) -> tuple[str, str, str]:
    """Prompt, chosen and rejected text of row ``i``."""
    return f"Question {i}: how should I water plant number {i}?", f"Water plant {i} weekly, deeply.", f"No idea about {i}."


def rows_of(shape: str, n: int, with_user: bool = False) -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        prompt, chosen, rejected = texts(i)
        if shape == "prompt_chosen_rejected":
            row: dict[str, Any] = {"prompt": prompt, "chosen": chosen, "rejected": rejected}
        elif shape == "chosen_rejected":
            row = {"chosen": f"{prompt}\nAnswer: {chosen}", "rejected": f"{prompt}\nAnswer: {rejected}"}
        elif shape == "messages":
            row = {
                "prompt": [{"role": "user", "content": prompt}],
                "chosen": [{"role": "assistant", "content": chosen}],
                "rejected": [{"role": "assistant", "content": rejected}],
            }
        elif shape == "hh_transcript":
            row = {"chosen": f"\n\nHuman: {prompt}\n\nAssistant: {chosen}", "rejected": f"\n\nHuman: {prompt}\n\nAssistant: {rejected}"}
        else:
            raise ValueError(shape)
        if with_user:
            row["user_id"] = USERS[i % len(USERS)]
        rows.append(row)
    return rows


def write(path: Path, rows: list[dict[str, Any]]) -> Path:
    """``rows`` as JSON lines, a JSON list, Parquet or CSV, by the file's suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    elif path.suffix == ".json":
        path.write_text(json.dumps(rows), encoding="utf-8")
    else:
        import pyarrow as pa

        table = pa.Table.from_pylist(rows)
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            pq.write_table(table, path)
        else:
            import pyarrow.csv as pcsv

            pcsv.write_csv(table, path)
    return path
