"""Reading preference files: every shape (with and without user ids), JSON lines / JSON /
Parquet / CSV, directories, and the problems named by file and row. No backbone is loaded."""

from __future__ import annotations

import pytest

from model.pair_files import Columns, DataError, load_sources
from model.pair_shapes import RowProblem, detect_shape, pair_of, split_common_prefix
from model.train_data import data_sources, prepare_data
from tests.model.pair_fixtures import USERS, rows_of, texts, write

SHAPES = ("prompt_chosen_rejected", "chosen_rejected", "messages", "hh_transcript")


@pytest.mark.parametrize("with_user", [False, True], ids=["no-user", "user"])
@pytest.mark.parametrize("shape", SHAPES)
def test_each_shape_is_detected_and_gives_prompt_chosen_rejected(tmp_path, shape, with_user):
    path = write(tmp_path / "pairs.jsonl", rows_of(shape, 6, with_user))
    result = load_sources([str(path)])
    assert [r.shape for r in result.reports] == [shape]
    assert len(result.pairs) == 6 and not result.skipped
    prompt, chosen, rejected = texts(3)
    pair = result.pairs[3]
    assert prompt in pair.prompt and pair.chosen.endswith(chosen) and pair.rejected.endswith(rejected)
    assert chosen not in pair.prompt
    assert pair.user_id == (USERS[1] if with_user else None)
    assert result.reports[0].users == (len(USERS) if with_user else 0)


def test_implicit_prompt_is_cut_at_the_last_line_break_of_the_common_prefix():
    assert split_common_prefix("Q: water?\nA: weekly", "Q: water?\nA: daily") == ("Q: water?", "A: weekly", "A: daily")


def test_implicit_prompt_without_line_break_is_cut_at_a_word_boundary():
    assert split_common_prefix("The plant likes rain", "The plant likes sun") == ("The plant likes", "rain", "sun")


def test_chat_messages_keep_the_conversation_for_the_chat_template(tmp_path):
    rows = [{
        "chosen": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello there"}],
        "rejected": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "go away"}],
    }]
    pair = load_sources([str(write(tmp_path / "chat.json", rows))]).pairs[0]
    assert pair.messages == ({"role": "user", "content": "hi"},)
    assert (pair.chosen, pair.rejected) == ("hello there", "go away")
    assert "hi" in pair.prompt


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".json"])
@pytest.mark.parametrize("with_user", [False, True], ids=["no-user", "user"])
def test_parquet_csv_and_json_files_read_like_json_lines(tmp_path, suffix, with_user):
    rows = rows_of("prompt_chosen_rejected", 5, with_user)
    expected = load_sources([str(write(tmp_path / "a.jsonl", rows))]).pairs
    got = load_sources([str(write(tmp_path / f"b{suffix}", rows))]).pairs
    assert [(p.prompt, p.chosen, p.rejected, p.user_id) for p in got] == [
        (p.prompt, p.chosen, p.rejected, p.user_id) for p in expected
    ]


def test_parquet_holds_chat_message_lists(tmp_path):
    result = load_sources([str(write(tmp_path / "chat.parquet", rows_of("messages", 4, True)))])
    assert result.reports[0].shape == "messages" and len(result.pairs) == 4


def test_csv_numbers_in_text_columns_stay_text(tmp_path):
    path = tmp_path / "n.csv"
    path.write_text("prompt,chosen,rejected,user_id\nwhat is 6*7?,42,41,7\n", encoding="utf-8")
    pair = load_sources([str(path)]).pairs[0]
    assert (pair.chosen, pair.rejected, pair.user_id) == ("42", "41", "7")


def test_a_directory_is_read_recursively_with_a_shape_per_file(tmp_path):
    write(tmp_path / "d" / "a.jsonl", rows_of("prompt_chosen_rejected", 3))
    write(tmp_path / "d" / "sub" / "b.parquet", rows_of("hh_transcript", 2))
    result = load_sources([str(tmp_path / "d")])
    assert sorted(r.shape for r in result.reports) == ["hh_transcript", "prompt_chosen_rejected"]
    assert len(result.pairs) == 5


def test_renamed_user_column_context_and_weight_are_read(tmp_path):
    rows = [{"prompt": "p", "chosen": "a", "rejected": "b", "uid": 12, "context": "I like brevity", "weight": 2.5}]
    pair = load_sources([str(write(tmp_path / "x.jsonl", rows))], columns=Columns(user="uid")).pairs[0]
    assert (pair.user_id, pair.context, pair.weight) == ("12", "I like brevity", 2.5)


def test_comma_joined_built_in_names_still_mean_each_and_paths_stay_whole():
    assert data_sources(["dsp,relabeled_hh"]) == ["dsp", "relabeled_hh"]
    assert data_sources(["my,file.jsonl"]) == ["my,file.jsonl"]
    assert data_sources(None) == ["dsp", "relabeled_hh", "hh_refusals"]  # the shipped recipe's data


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"prompt": "p", "chosen": "a"}, "'rejected' is missing"),
        ({"prompt": "p", "chosen": "  ", "rejected": "b"}, "'chosen' is empty"),
        ({"prompt": "p", "chosen": None, "rejected": "b"}, "'chosen' is empty"),
        ({"prompt": "p", "chosen": "same", "rejected": "same"}, "identical"),
        ({"prompt": "p", "chosen": 3, "rejected": "b"}, "'chosen' should be text, got an integer"),
        ({"prompt": "p", "chosen": "a", "rejected": "b", "weight": -1}, "'weight' should be a positive number"),
        ({"prompt": "p", "chosen": "a", "rejected": "b", "user_id": [1]}, "user id"),
    ],
)
def test_bad_rows_say_what_is_wrong(row, message):
    with pytest.raises(RowProblem, match=message):
        pair_of(row, "prompt_chosen_rejected", Columns(), "t")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"chosen": "hello", "rejected": [{"role": "assistant", "content": "x"}]}, "should be a list of messages"),
        ({"chosen": [{"role": "robot", "content": "x"}], "rejected": [{"role": "assistant", "content": "y"}]}, "role 'robot'"),
        ({"chosen": [{"role": "assistant"}], "rejected": [{"role": "assistant", "content": "y"}]}, "no text 'content'"),
        ({"chosen": [{"role": "user", "content": "x"}], "rejected": [{"role": "assistant", "content": "y"}]},
         "does not end with an assistant message"),
        ({"chosen": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "x"}],
          "rejected": [{"role": "user", "content": "b"}, {"role": "assistant", "content": "y"}]}, "differ before"),
    ],
)
def test_malformed_message_lists_say_what_is_wrong(row, message):
    with pytest.raises(RowProblem, match=message):
        pair_of(row, "messages", Columns(), "t")


def test_transcripts_without_an_assistant_turn_are_refused():
    with pytest.raises(RowProblem, match="no .*Assistant"):
        pair_of({"chosen": "\n\nHuman: hi\n\nAssistant: a", "rejected": "\n\nHuman: hi"}, "hh_transcript", Columns(), "t")


def test_unknown_shape_is_none():
    assert detect_shape([{"question": "q", "answer": "a"}]) is None


def test_skipped_rows_are_counted_by_kind_with_their_row_numbers(tmp_path):
    rows = rows_of("prompt_chosen_rejected", 5)
    rows[1]["chosen"] = ""
    rows[3]["rejected"] = rows[3]["chosen"]
    path = write(tmp_path / "s.jsonl", rows)
    result = load_sources([str(path)])
    assert len(result.pairs) == 3
    assert dict(result.reports[0].skipped) == {"missing text": 1, "identical": 1}
    assert result.skipped == [f"{path}: row 2: 'chosen' is empty", f"{path}: row 4: chosen is identical to rejected"]


def test_invalid_json_line_is_skipped_with_its_line_number(tmp_path):
    path = tmp_path / "j.jsonl"
    good = '{"prompt": "p", "chosen": "a", "rejected": "b"}\n'
    path.write_text(good + "\n" + "{oops\n" + good, encoding="utf-8")
    result = load_sources([str(path)])
    assert len(result.pairs) == 2 and result.skipped[0].startswith(f"{path}: row 3: not valid JSON")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.json", "[{", "not valid JSON"),
        ("bad.parquet", "not parquet", "cannot be read"),
        ("bad.csv", "prompt,chosen,rejected\np,a,b\np,a,b,extra\n", "line 3: expected 3 columns, got 4"),
        ("shape.jsonl", '{"question": "q", "answer": "a"}\n', "unknown shape"),
        ("notes.txt", "hello", "unsupported file type"),
        ("empty.csv", "prompt,chosen,rejected\n", "no rows"),
    ],
)
def test_unusable_files_are_fatal_naming_the_file(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_sources([str(path)])
    assert len(info.value.problems) == 1
    assert info.value.problems[0].startswith(str(path)) and message in info.value.problems[0]


def test_every_fatal_problem_of_every_source_is_listed_at_once(tmp_path):
    with pytest.raises(DataError) as info:
        load_sources([str(tmp_path / "missing.jsonl"), str(write(tmp_path / "s.jsonl", [{"x": 1}]))])
    assert len(info.value.problems) == 2


def test_a_required_user_column_must_exist(tmp_path):
    path = write(tmp_path / "a.jsonl", rows_of("prompt_chosen_rejected", 3))
    with pytest.raises(DataError, match="no user column 'uid'"):
        load_sources([str(path)], columns=Columns(user="uid"), user_column_required=True)


def test_strict_turns_a_skipped_row_into_a_problem(tmp_path):
    rows = rows_of("prompt_chosen_rejected", 60)
    rows[7]["rejected"] = rows[7]["chosen"]
    path = write(tmp_path / "s.jsonl", rows)
    assert len(prepare_data([str(path)]).pairs) == 59
    with pytest.raises(DataError) as info:
        prepare_data([str(path)], strict=True)
    assert info.value.problems[0] == f"{path}: row 8: chosen is identical to rejected"


def test_too_few_pairs_are_refused(tmp_path):
    with pytest.raises(DataError, match="only 10 usable training pairs"):
        prepare_data([str(write(tmp_path / "few.jsonl", rows_of("prompt_chosen_rejected", 10)))])


def test_one_prompt_cannot_fill_the_validation_slices(tmp_path):
    rows = [{"prompt": "same", "chosen": f"good {i}", "rejected": f"bad {i}"} for i in range(60)]
    with pytest.raises(DataError, match="slice is empty"):
        prepare_data([str(write(tmp_path / "one.jsonl", rows))])


def test_val_data_makes_every_training_pair_fit(tmp_path):
    train = write(tmp_path / "t.jsonl", rows_of("prompt_chosen_rejected", 50))
    val = write(tmp_path / "v.jsonl", rows_of("messages", 30))
    prepared = prepare_data([str(train)], [str(val)])
    assert prepared.counts["fit"] == 50
    assert prepared.counts["validation"] + prepared.counts["held_out"] == 30
    assert prepared.record()["shapes"] == ["messages", "prompt_chosen_rejected"]


def test_a_broken_jsonl_row_names_the_column_on_its_own_line(tmp_path):
    good = '{"prompt": "p", "chosen": "a", "rejected": "b"}'
    broken = good[:-1]  # the closing brace missing: column 47, not line 2
    path = tmp_path / "col.jsonl"
    path.write_text(good + "\n" + broken + "\n" + good + "\n", encoding="utf-8")
    result = load_sources([str(path)])
    assert result.skipped[0] == f"{path}: row 2: not valid JSON (Expecting ',' delimiter at column 47)"
