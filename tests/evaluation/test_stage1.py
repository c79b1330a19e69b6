"""The stage-1 report's tables: per-dataset means and the markdown rows."""

import pytest

from evaluation.stage1 import dataset_means, render

VALS = {"dsp/academy": 0.6, "dsp/business": 0.8, "relabeled_hh/helpful": 0.5}


def test_dataset_means_average_the_user_types_of_each_dataset():
    assert dataset_means(VALS) == pytest.approx({"dsp": 0.7, "relabeled_hh": 0.5})


def test_render_writes_one_row_per_method_with_per_type_cells_and_dataset_means():
    lines = render({"single BT (K=1)": VALS}, sorted(VALS))
    assert lines[0] == "| method | academy | business | helpful | dsp mean | relabeled_hh mean |"
    assert lines[2] == "| single BT (K=1) | 0.600 | 0.800 | 0.500 | 0.700 | 0.500 |"
