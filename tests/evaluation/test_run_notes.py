"""A report's closing line says whether the embeddings were computed or read from the cache, and
figures are written into folders that do not exist yet (a fresh clone has no .cache/reports)."""

from __future__ import annotations

import json

import torch

from evaluation.run_notes import RunClock, write_json
from evaluation.report_sections import write_section


def test_the_note_tells_a_cold_cache_from_a_warm_one(tmp_path):
    cache = tmp_path / "cache"
    warm = RunClock(cache)
    assert warm.note().endswith("embeddings read from the cache.")
    (cache / "backbone").mkdir(parents=True)
    torch.save({"keys": [], "emb": torch.zeros(0, 2)}, cache / "backbone" / "shard-0.pt")
    assert "embeddings computed by this run" in warm.note()
    assert "embeddings read from the cache" in RunClock(cache).note()  # the next run finds them


def test_figures_and_sections_go_into_folders_that_do_not_exist_yet(tmp_path):
    figures = tmp_path / ".cache" / "reports" / "stage1.json"
    write_json(figures, {"version": "k2-x", "dsp": [0.7, 0.6, 0.8]})
    assert json.loads(figures.read_text()) == {"version": "k2-x", "dsp": [0.7, 0.6, 0.8]}
    assert [p.name for p in figures.parent.iterdir()] == ["stage1.json"]  # no temporary file left behind
    page = tmp_path / "docs" / "results.md"
    write_section(page, ["a line"], "<!-- b -->", "<!-- e -->", title="# Results")
    assert page.read_text().startswith("# Results") and "a line" in page.read_text()
