"""python -m service.ops.import_feedback against the real server and Redis: each user's rows become
their labels in file order (the same state as posting them one by one), a re-run applies nothing
twice and resumes where it stopped, skipped rows are named, bad input exits 2 sending nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from model.paths import REPO_ROOT
from evaluation.service_process import free_port
from service.ops.import_feedback import batches, main
from service.ops.import_rows import ImportRow

pytestmark = pytest.mark.slow

PAIRS = [
    ("How do I water a fern?", "Keep the soil moist, never soggy; mist the fronds.", "Whenever."),
    ("Summarise the causes of World War I.", "Alliances, militarism and nationalism, sparked in Sarajevo.",
     "people were angry"),
    ("Give me a business tip.", "Track cash flow weekly.", "Make money lol."),
    ("What is a hash table?", "Keys mapped to slots by a hash function.", "A table of hash."),
]


def users() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:8]
    return f"ann-{tag}", f"bob-{tag}"


def rows_for(ann: str, bob: str) -> list[dict]:
    """Interleaved rows of two users; one of ann's with a stated context, one of bob's reversed."""
    rows = []
    for i, (prompt, chosen, rejected) in enumerate(PAIRS):
        rows.append({"prompt": prompt, "chosen": chosen, "rejected": rejected, "user_id": ann,
                     **({"context": "I like numbers."} if i == 2 else {})})
        rows.append({"prompt": prompt, "chosen": rejected if i == 1 else chosen,
                     "rejected": chosen if i == 1 else rejected, "user_id": bob})
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def run_import(server: str, *args: str) -> int:
    return main([*args, "--url", server, "--retries", "1"])


def user(client: httpx.Client, user_id: str) -> dict:
    return client.get(f"/v1/users/{user_id}").json()


def test_import_equals_posting_each_users_rows_in_file_order(client: httpx.Client, server: str, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]):
    ann, bob = users()
    rows = rows_for(ann, bob)
    chat = [{"prompt": [{"role": "user", "content": "Name a prime."}],
             "chosen": [{"role": "assistant", "content": "Seven."}],
             "rejected": [{"role": "assistant", "content": "Nine."}], "user_id": ann}]
    (tmp_path / "more").mkdir()
    pq.write_table(pa.Table.from_pylist(chat), tmp_path / "more" / "chat.parquet")
    assert run_import(server, str(write_jsonl(tmp_path / "history.jsonl", rows)), str(tmp_path / "more")) == 0
    out = capsys.readouterr().out
    assert "import: 2 users, 9 rows -> 9 labels" in out and "applied 9, already present 0" in out

    expected = {ann: [r for r in rows if r["user_id"] == ann] + chat, bob: [r for r in rows if r["user_id"] == bob]}
    for imported, labels in expected.items():
        replay = f"replay-{uuid.uuid4().hex[:8]}"
        for row in labels:
            body = {k: v for k, v in row.items() if k != "user_id"}
            if isinstance(body["chosen"], list):  # the chat row, as the service takes it
                body = {"messages": body["prompt"], "chosen": body["chosen"][-1]["content"],
                        "rejected": body["rejected"][-1]["content"]}
            assert client.post("/v1/feedback", json={**body, "user_id": replay}).status_code == 200
        got, want = user(client, imported), user(client, replay)
        assert got["n_feedback"] == want["n_feedback"] == len(labels)
        assert got["offset"] == pytest.approx(want["offset"], abs=1e-6)


def test_rerun_applies_nothing_and_appended_rows_are_resumed(client: httpx.Client, server: str, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]):
    ann, bob = users()
    rows = rows_for(ann, bob)
    path = write_jsonl(tmp_path / "history.jsonl", rows[:5])  # as if the first run stopped after 5 rows
    assert run_import(server, str(path)) == 0
    capsys.readouterr()
    before = user(client, ann)
    assert run_import(server, str(path)) == 0
    assert "applied 0, already present 5" in capsys.readouterr().out
    assert user(client, ann) == before

    write_jsonl(path, rows + [rows[0]])  # the rest, then the same label given again: a label of its own
    assert run_import(server, str(path), "--batch-size", "2") == 0
    assert "applied 4, already present 5" in capsys.readouterr().out
    assert user(client, ann)["n_feedback"] == 5 and user(client, bob)["n_feedback"] == 4


def test_an_id_column_names_the_rows(client: httpx.Client, server: str, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]):
    ann, _ = users()
    rows = [{"id": f"r{i}", "prompt": p, "chosen": c, "rejected": r, "user_id": ann} for i, (p, c, r) in
            enumerate(PAIRS[:2])]
    path = write_jsonl(tmp_path / "ids.jsonl", rows)
    assert run_import(server, str(path)) == 0
    capsys.readouterr()
    rows[0]["chosen"] += " (edited)"  # same id: still the same label
    write_jsonl(path, rows[::-1])
    assert run_import(server, str(path)) == 0
    assert "applied 0, already present 2" in capsys.readouterr().out
    assert user(client, ann)["n_feedback"] == 2


def test_skipped_rows_are_counted_and_named_with_their_reasons(client: httpx.Client, server: str, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]):
    ann, _ = users()
    too_long = "x" * (client.get("/v1/model").json()["limits"]["max_text_chars"] + 1)
    rows = [
        {"prompt": "Hi?", "chosen": "Hello.", "rejected": "Go away.", "user_id": ann},
        {"prompt": "Hi?", "chosen": "", "rejected": "Go away.", "user_id": ann},
        {"prompt": "Hi?", "chosen": "Hello.", "rejected": "Go away."},
        {"prompt": "Hi?", "chosen": "Hello.", "rejected": "Go away.", "user_id": "has space"},
        {"prompt": "Hi?", "chosen": too_long, "rejected": "Go away.", "user_id": ann},
        {"prompt": "Hi?", "chosen": "Same.", "rejected": "Same.", "user_id": ann},
    ]
    path = write_jsonl(tmp_path / "mixed.jsonl", rows)
    assert run_import(server, str(path)) == 0
    out = capsys.readouterr().out
    assert "applied 1, already present 0" in out and "skipped 5 rows" in out
    for number, reason in [(2, "'chosen' is empty"), (3, "no user id"), (4, "not a service id"),
                           (5, "the server takes"), (6, "identical")]:
        assert f"{path}: row {number}: " in out and reason in out, (number, reason)
    assert user(client, ann)["n_feedback"] == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"question": "Hi?", "answer": "Hello.", "user_id": "u"}\n', "unknown shape"),
        ('{"prompt": "Hi?", "chosen": "Hello.", "rejected": "Bye."}\n', "has no user column 'user_id'"),
    ],
)
def test_bad_input_exits_2_naming_the_file_and_sends_nothing(server: str, tmp_path: Path, content: str, message: str):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    done = subprocess.run([sys.executable, "-m", "service.ops.import_feedback", str(path), "--url", server],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2 and f"error: {path}: " in done.stderr and message in done.stderr
    assert "Traceback" not in done.stderr


def test_strict_refuses_skipped_rows_before_sending(client: httpx.Client, server: str, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]):
    ann, _ = users()
    path = write_jsonl(tmp_path / "strict.jsonl", [
        {"prompt": "Hi?", "chosen": "Hello.", "rejected": "Bye.", "user_id": ann},
        {"prompt": "Hi?", "chosen": "Hello.", "rejected": "Hello.", "user_id": ann},
    ])
    assert run_import(server, str(path), "--strict") == 2
    assert f"{path}: row 2: chosen is identical to rejected" in capsys.readouterr().out
    assert client.get(f"/v1/users/{ann}").status_code == 404


def test_an_unreachable_server_exits_1_saying_how_to_resume(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = write_jsonl(tmp_path / "h.jsonl", rows_for(*users()))
    assert main([str(path), "--url", f"http://127.0.0.1:{free_port()}", "--retries", "0"]) == 1
    assert "re-run the same command to resume" in capsys.readouterr().err


def test_batches_keep_file_order_within_the_item_and_byte_budgets():
    rows = [ImportRow("u", {"prompt": "p", "chosen": "c" * n, "rejected": "r", "feedback_id": f"f{i}"}, f"row {i}")
            for i, n in enumerate([10, 10, 10, 500, 10, 10, 10])]
    by_items = list(batches(rows, max_items=3, max_bytes=10_000))
    assert [len(b) for b in by_items] == [3, 3, 1]
    by_bytes = list(batches(rows, max_items=100, max_bytes=400))
    assert [r for b in by_bytes for r in b] == rows and all(len(b) >= 1 for b in by_bytes)
    assert [len(b) for b in by_bytes] == [3, 1, 3]  # the large row goes alone
