"""Bootstrap intervals over prompts: the statistic is the mean of the groups' means, prompts are
resampled whole, and the interval brackets the value."""

import torch

from evaluation.bootstrap import prompt_bootstrap


def test_value_is_the_mean_of_group_means_whatever_the_group_sizes():
    values = torch.tensor([1.0, 1.0, 1.0, 0.0])  # group a: 3 pairs all right; group b: 1 pair wrong
    got = prompt_bootstrap(values, ["p1", "p2", "p3", "p4"], ["a", "a", "a", "b"], draws=200)
    assert abs(got.value - 0.5) < 1e-9


def test_constant_scores_give_a_zero_width_interval():
    got = prompt_bootstrap(torch.ones(30), [str(i % 10) for i in range(30)], ["a"] * 30, draws=200)
    assert got.low == got.high == got.value == 1.0


def test_interval_brackets_the_value_and_is_reproducible():
    gen = torch.Generator().manual_seed(0)
    values = (torch.rand(400, generator=gen) < 0.7).float()
    prompts, groups = [str(i // 4) for i in range(400)], [str(i % 4) for i in range(400)]
    first = prompt_bootstrap(values, prompts, groups, seed=3)
    assert first.low < first.value < first.high
    assert first == prompt_bootstrap(values, prompts, groups, seed=3)


def test_pairs_sharing_a_prompt_are_resampled_together():
    # every prompt's pairs agree: resampling prompts sees 20 units, not 200, so the interval is wider
    per_prompt = (torch.arange(20) % 2).float()
    values = per_prompt.repeat_interleave(10)
    grouped = prompt_bootstrap(values, [str(i // 10) for i in range(200)], ["a"] * 200)
    independent = prompt_bootstrap(values, [str(i) for i in range(200)], ["a"] * 200)
    assert (grouped.high - grouped.low) > 2 * (independent.high - independent.low)
