"""bench.rl_compare's accuracy figures, on made-up rewards (the bench itself needs .venv-rl and minutes)."""

from __future__ import annotations

from bench.rl_compare import agreement, dsp_accuracy

STYLES = ["academy", "business", "entertainment", "literature", "concise"]
JOB = [{"item": i // 5, "style": STYLES[i % 5]} for i in range(10)]


def test_agreement_counts_same_prompt_pairs_ordered_alike_and_the_largest_difference():
    reference = [float(i % 5) for i in range(10)]
    same = agreement(reference, reference, JOB)
    assert same == {"max_abs_diff": 0.0, "order_agreement": 1.0}
    flipped = reference.copy()
    flipped[0], flipped[1] = flipped[1], flipped[0]  # one of the 20 same-prompt pairs changes order
    result = agreement(flipped, reference, JOB)
    assert result["order_agreement"] == 0.95 and result["max_abs_diff"] == 1.0


def test_dsp_accuracy_is_each_user_types_preferred_style_over_the_other_four():
    rewards = [1.0 if s["style"] == "academy" else 0.0 for s in JOB]
    accuracy = dsp_accuracy(rewards, JOB)
    assert accuracy["academy"] == 1.0 and accuracy["business"] == 0.0
