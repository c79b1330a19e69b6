"""python -m model.train on your own files: bad input exits 2 naming file and row, writes nothing;
a small file trains end to end (tiny random Llama built in-test, no download) and the checkpoint
records the held-out table, the data and the code, readable by anyone (0644 / 0755)."""

from __future__ import annotations

import json
import stat
import subprocess
import sys

import pytest

from model.checkpoint import CONFIG_FILE, WEIGHTS_FILE, load_checkpoint
from model.paths import REPO_ROOT
from model.train import main
from tests.model.pair_fixtures import USERS, rows_of, write
from tests.model.tiny_models import build_tiny_llama, tiny_rows

FAST = ["--heads", "2", "--restarts", "1", "--max-steps", "200", "--threads", "1"]


@pytest.fixture(scope="module")
def tiny_backbone(tmp_path_factory):
    return build_tiny_llama(tmp_path_factory.mktemp("backbone") / "tiny-llama")


def run_failing(argv: list[str], capsys) -> list[str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    return capsys.readouterr().err.strip().splitlines()


BAD_ROWS = {
    "missing text": ({"prompt": "p", "chosen": "a"}, "'rejected' is missing"),
    "empty text": ({"prompt": "p", "chosen": "", "rejected": "b"}, "'chosen' is empty"),
    "identical": ({"prompt": "p", "chosen": "same", "rejected": "same"}, "chosen is identical to rejected"),
    "wrong type": ({"prompt": "p", "chosen": {"text": "a"}, "rejected": "b"}, "'chosen' should be text"),
    "bad weight": ({"prompt": "p", "chosen": "a", "rejected": "b", "weight": "heavy"}, "'weight' should be a positive"),
}


@pytest.mark.parametrize("case", sorted(BAD_ROWS))
def test_strict_bad_row_exits_2_naming_file_and_row_and_writes_nothing(tmp_path, capsys, case):
    row, message = BAD_ROWS[case]
    rows = rows_of("prompt_chosen_rejected", 60)
    rows.insert(11, row)
    path = write(tmp_path / "bad.jsonl", rows)
    out = tmp_path / "ck"
    lines = run_failing(["--data", str(path), "--strict", "--out", str(out)], capsys)
    assert f"error: {path}: row 12: {message}" in "\n".join(lines)
    assert not out.exists()


def test_malformed_message_list_exits_2_with_its_row(tmp_path, capsys):
    rows = rows_of("messages", 60)
    rows[4]["rejected"] = [{"role": "assistant"}]
    path = write(tmp_path / "chat.parquet", rows)
    lines = run_failing(["--data", str(path), "--strict", "--out", str(tmp_path / "ck")], capsys)
    assert f"error: {path}: row 5: 'rejected' message 1 has no text 'content' (got null)" in lines
    assert not (tmp_path / "ck").exists()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("broken.csv", "prompt,chosen,rejected\np,a,b\np,a,b,c\n", "line 3: expected 3 columns, got 4"),
        ("broken.parquet", "PAR1 not really", "cannot be read"),
        ("other.jsonl", '{"text": "hello", "label": 1}\n', "unknown shape"),
        ("missing.jsonl", None, "no such file or directory"),
    ],
)
def test_unusable_file_exits_2_and_writes_nothing(tmp_path, capsys, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content, encoding="utf-8")
    lines = run_failing(["--data", str(path), "--out", str(tmp_path / "ck")], capsys)
    errors = [line for line in lines if line.startswith("error:")]
    assert errors[0].startswith(f"error: {path}") and message in errors[0]
    assert not (tmp_path / "ck").exists()


def test_too_few_pairs_exit_2_naming_the_minimum(tmp_path, capsys):
    path = write(tmp_path / "few.csv", rows_of("prompt_chosen_rejected", 12))
    lines = run_failing(["--data", str(path), "--out", str(tmp_path / "ck")], capsys)
    assert any("only 12 usable training pairs; at least 40" in line for line in lines)


def test_a_fit_without_an_optimisation_step_is_refused(tmp_path, capsys, tiny_backbone):
    path = write(tmp_path / "p.jsonl", tiny_rows(60))
    argv = ["--data", str(path), "--backbone", str(tiny_backbone), "--cache-dir", str(tmp_path / "cache"),
            "--out", str(tmp_path / "ck"), *FAST, "--max-steps", "5"]
    lines = run_failing(argv, capsys)
    assert any("no optimisation step" in line for line in lines)
    assert not (tmp_path / "ck").exists()


def test_bad_input_from_the_command_line_prints_no_traceback(tmp_path):
    path = write(tmp_path / "bad.jsonl", [{"prompt": "p", "chosen": "a", "rejected": "b"}, {"prompt": "p", "chosen": "a"}])
    done = subprocess.run(
        [sys.executable, "-m", "model.train", "--data", str(path), "--strict", "--out", str(tmp_path / "ck")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and f"{path}: row 2: 'rejected' is missing" in done.stderr


def test_small_file_trains_with_the_per_user_table_and_a_readable_checkpoint(tmp_path, capsys, tiny_backbone):
    path = write(tmp_path / "pairs.jsonl", tiny_rows(64))
    out = tmp_path / "new" / "ck"
    main(["--data", str(path), "--backbone", str(tiny_backbone), "--cache-dir", str(tmp_path / "cache"),
          "--out", str(out), *FAST])
    printed = capsys.readouterr().out
    config = json.loads((out / CONFIG_FILE).read_text())
    table = config["metrics"]["held_out"]
    record = config["training"]["data_record"]
    assert [r["user"] for r in table["per_user"]] == list(USERS)
    assert sum(r["n_validation"] for r in table["per_user"]) == record["slices"]["validation"] > 0
    assert sum(r["n_held_out"] for r in table["per_user"]) == table["held_out_pairs"] == record["slices"]["held_out"] > 0
    assert 0 <= table["mixture_accuracy"] <= 1 and 0 <= table["single_bt_accuracy"] <= 1
    assert "per user (user_id)" in printed and all(u in printed for u in USERS)
    assert record["shapes"] == ["prompt_chosen_rejected"] and record["pairs"] == 64 and record["users"] == 2
    assert record["sources"][0]["sha256"] and len(record["fingerprint"]) == 64
    assert config["training"]["refit"] == {"on": "all", "pairs": 64, "steps": config["metrics"]["steps"]}
    assert config["training"]["packages"]["torch"] and "git" in config["training"]
    for file in (out / WEIGHTS_FILE, out / CONFIG_FILE):
        assert stat.S_IMODE(file.stat().st_mode) == 0o644
    for directory in (out, out.parent):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o755
    model, _ = load_checkpoint(out)
    assert model.num_heads >= 2


def test_val_data_and_no_refit_keep_the_fit_without_the_held_out_pairs(tmp_path, capsys, tiny_backbone):
    train, val = write(tmp_path / "t.parquet", tiny_rows(48, seed=1)), write(tmp_path / "v.csv", tiny_rows(24, seed=2))
    out = tmp_path / "ck"
    main(["--data", str(train), "--val-data", str(val), "--no-refit", "--backbone", str(tiny_backbone),
          "--cache-dir", str(tmp_path / "cache"), "--out", str(out), *FAST])
    config = json.loads((out / CONFIG_FILE).read_text())
    slices = config["training"]["data_record"]["slices"]
    assert config["training"]["refit"] is None
    assert slices["fit"] == 48 and slices["validation"] + slices["held_out"] == 24
    assert config["metrics"]["held_out"]["held_out_pairs"] == slices["held_out"]


def reshaped(row: dict, shape: str) -> dict:
    """A prompt/chosen/rejected row in another shape (user id kept)."""
    p, c, r, user = row["prompt"], row["chosen"], row["rejected"], row["user_id"]
    if shape == "chosen_rejected":
        return {"chosen": f"{p}\n{c}", "rejected": f"{p}\n{r}", "user_id": user}
    if shape == "messages":
        turn = [{"role": "user", "content": p}]
        return {"chosen": [*turn, {"role": "assistant", "content": c}],
                "rejected": [*turn, {"role": "assistant", "content": r}], "user_id": user}
    return {"chosen": f"\n\nHuman: {p}\n\nAssistant: {c}", "rejected": f"\n\nHuman: {p}\n\nAssistant: {r}", "user_id": user}


@pytest.mark.parametrize("shape", ["chosen_rejected", "messages", "hh_transcript"])
def test_every_shape_trains_and_prints_the_per_user_table(tmp_path, capsys, tiny_backbone, shape):
    path = write(tmp_path / "outside" / "pairs.jsonl", [reshaped(row, shape) for row in tiny_rows(64, seed=3)])
    out = tmp_path / "ck"
    main(["--data", str(path), "--backbone", str(tiny_backbone), "--cache-dir", str(tmp_path / "cache"),
          "--out", str(out), "--no-refit", *FAST])
    captured = capsys.readouterr()
    config = json.loads((out / CONFIG_FILE).read_text())
    assert config["training"]["data_record"]["shapes"] == [shape] and f"{path}: {shape}" in captured.err
    assert "per user (user_id)" in captured.out
    assert [r["user"] for r in config["metrics"]["held_out"]["per_user"]] == list(USERS)


def test_choice_groups_keep_different_users_apart():
    from model.data import PreferencePair
    from model.training_set import group_ids

    pairs = [PreferencePair("p", "a", b, "", "t", user_id=u) for u, b in (("ann", "x"), ("ann", "y"), ("bob", "z"))]
    assert group_ids(pairs, "choice").tolist() == [0, 0, 1]


def test_refit_except_validation_refits_on_every_pair_outside_the_validation_slice(tmp_path, tiny_backbone):
    train = write(tmp_path / "t.jsonl", tiny_rows(64, seed=4))
    out = tmp_path / "ck"
    main(["--data", str(train), "--refit", "except-validation", "--backbone", str(tiny_backbone),
          "--cache-dir", str(tmp_path / "cache"), "--out", str(out), *FAST])
    config = json.loads((out / CONFIG_FILE).read_text())
    slices = config["training"]["data_record"]["slices"]
    refit = config["training"]["refit"]
    assert refit["on"] == "except-validation" and refit["pairs"] == slices["fit"] + slices["held_out"]
    assert refit["steps"] >= 1


def test_group_by_user_trains_annotator_groups_and_records_them(tmp_path, tiny_backbone, capsys):
    path = write(tmp_path / "t.jsonl", tiny_rows(64, seed=5))
    out = tmp_path / "ck"
    main(["--data", str(path), "--group-by", "user", "--backbone", str(tiny_backbone),
          "--cache-dir", str(tmp_path / "cache"), "--out", str(out), "--no-refit", *FAST])
    config = json.loads((out / CONFIG_FILE).read_text())
    assert config["training"]["group_by"] == "user" and config["training"]["simulated_annotator_prompts"] == 0
    assert "annotator groups: 2 latent-type groups over" in capsys.readouterr().err  # ann and bob


def test_group_by_auto_groups_by_user_exactly_when_rows_name_users(tmp_path, tiny_backbone, capsys):
    named = write(tmp_path / "named.jsonl", tiny_rows(64, seed=5))
    unnamed = write(tmp_path / "unnamed.jsonl", [{k: v for k, v in r.items() if k != "user_id"} for r in tiny_rows(64, seed=5)])
    for path, expected in ((named, "user"), (unnamed, "choice")):
        out = tmp_path / f"ck-{expected}"
        main(["--data", str(path), "--backbone", str(tiny_backbone), "--cache-dir", str(tmp_path / "cache"),
              "--out", str(out), "--no-refit", *FAST])
        training = json.loads((out / CONFIG_FILE).read_text())["training"]
        assert (training["group_by"], training["group_by_asked"]) == (expected, "auto")
        assert f"--group-by auto: {expected}" in capsys.readouterr().err


def test_simulated_annotators_need_group_by_user(capsys):
    with pytest.raises(SystemExit):
        main(["--data", "dsp", "--group-by", "choice", "--simulated-annotators", "10"])
    assert "--simulated-annotators needs --group-by user" in capsys.readouterr().err
