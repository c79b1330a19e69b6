"""The stage-1 report's tables: per-dataset means, the head chosen on validation against the
oracle, and the markdown rows with bootstrap intervals."""

import pytest
import torch

from evaluation.stage1 import dataset_means, render, type_means
from model.data import PreferencePair
from model.training_set import TrainingSet

VALS = {"dsp/academy": 0.6, "dsp/business": 0.8, "relabeled_hh/helpful": 0.5}


def test_dataset_means_average_the_user_types_of_each_dataset():
    assert dataset_means(VALS) == pytest.approx({"dsp": 0.7, "relabeled_hh": 0.5})


def tiny_test_set() -> TrainingSet:
    rows = [("dsp", "academy", "p1"), ("dsp", "academy", "p2"), ("dsp", "business", "p1"), ("dsp", "business", "p2"),
            ("relabeled_hh", "helpful", "q1"), ("relabeled_hh", "helpful", "q2")]
    pairs = [PreferencePair(prompt, "a", "b", user_type, dataset) for dataset, user_type, prompt in rows]
    return TrainingSet(pairs, None)  # the tables read only the pairs' prompts and user types


def test_render_writes_per_type_cells_and_dataset_means_with_intervals():
    test = tiny_test_set()
    outcomes = torch.tensor([1.0, 0.0, 1.0, 1.0, 1.0, 1.0])
    assert type_means(outcomes, test) == pytest.approx({"dsp/academy": 0.5, "dsp/business": 1.0, "relabeled_hh/helpful": 1.0})
    lines = render({"single BT (K=1)": outcomes}, test)
    assert lines[0] == "| method | academy | business | helpful | dsp mean [95 % CI] | relabeled_hh mean [95 % CI] |"
    assert lines[2].startswith("| single BT (K=1) | 0.500 | 1.000 | 1.000 | 0.750 [")
    assert lines[2].endswith("| 1.000 [1.000, 1.000] |")


def test_checkpoint_section_goes_under_the_title_and_is_replaced_on_rerun(tmp_path):
    from evaluation.report_sections import write_section
    from evaluation.stage1_checkpoint import BEGIN, END

    page = tmp_path / "results.md"
    page.write_text("# Stage-1 results\nthe full comparison\n", encoding="utf-8")
    for lines in (["first"], ["second"]):
        write_section(page, lines, BEGIN, END, title="# Stage-1 results", at_top=True)
    text = page.read_text(encoding="utf-8")
    assert text.startswith("# Stage-1 results\n") and "second" in text and "first" not in text
    assert text.rstrip().endswith("the full comparison")
