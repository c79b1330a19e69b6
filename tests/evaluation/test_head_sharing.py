"""evaluation.head_sharing tallies, per user type, the head each choice group's posterior puts first,
and names the user types one head serves together."""

import torch

from evaluation.head_sharing import merged_types, render, top_head_shares


def test_top_head_shares_count_each_types_groups_by_their_largest_posterior():
    post = torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8]])
    shares = top_head_shares(post, ["a", "a", "b", "b"])
    assert torch.allclose(shares["a"], torch.tensor([0.5, 0.5, 0.0]))
    assert torch.allclose(shares["b"], torch.tensor([0.5, 0.0, 0.5]))


def test_types_sharing_a_top_head_on_most_of_their_choices_are_merged():
    shares = {"academy": torch.tensor([0.8, 0.2, 0.0]), "business": torch.tensor([0.7, 0.1, 0.2]),
              "literature": torch.tensor([0.1, 0.9, 0.0]), "weak": torch.tensor([0.4, 0.3, 0.3])}
    assert merged_types(shares) == [("academy", "business", 0)]  # "weak" tops head 0 on only 0.4 of its choices


def test_render_names_the_merge_and_marks_empty_cells():
    shares = {"a": torch.tensor([1.0, 0.0]), "b": torch.tensor([1.0, 0.0])}
    lines = render(shares, {"a": 3, "b": 2}, "k2-test", "python -m evaluation.head_sharing")
    assert "| a | 3 | 1.00 | · |" in lines
    assert lines[-2] == "Merged: a and b share head 0: the mixture serves them with one head."
    alone = render({"a": torch.tensor([1.0, 0.0]), "b": torch.tensor([0.0, 1.0])}, {"a": 1, "b": 1}, "v", "cmd")
    assert alone[-2].startswith("Merged: no two user types share a top head")
