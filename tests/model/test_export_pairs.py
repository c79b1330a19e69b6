"""python -m model.export_pairs: a DSP train-split slice as TRL rows with user ids, readable by training."""

from __future__ import annotations

import pytest

from model.data import DSP_DOMAINS, default_data_root, split_of
from model.export_pairs import export_rows, main
from model.pair_files import load_sources

pytestmark = pytest.mark.skipif(not (default_data_root() / "dsp").is_dir(), reason="needs ../shared/data")


def test_rows_come_from_the_train_split_with_a_user_per_dsp_type():
    rows = export_rows(3)
    assert {r["user_id"] for r in rows} == set(DSP_DOMAINS)
    assert all(split_of(r["prompt"]) == "train" for r in rows)
    assert all(r["chosen"].strip() and r["chosen"].strip() != r["rejected"].strip() for r in rows)


def test_users_per_type_deals_queries_to_several_users():
    assert {r["user_id"] for r in export_rows(4, users_per_type=2)} == {f"{d}-{i}" for d in DSP_DOMAINS for i in (1, 2)}


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet", ".csv"])
def test_exported_file_reads_back_as_trl_rows_with_users(tmp_path, suffix, capsys):
    out = tmp_path / f"dsp{suffix}"
    main(["--queries", "2", "--out", str(out)])
    result = load_sources([str(out)])
    assert result.reports[0].shape == "prompt_chosen_rejected" and not result.skipped
    assert len(result.pairs) == len(export_rows(2)) and result.reports[0].users == len(DSP_DOMAINS)
