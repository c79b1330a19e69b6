"""evaluation.features_choice picks the setting whose validation criterion is best on average
over fit seeds, and ships that setting's best-validation seed."""

import pytest

from evaluation.features_choice import Candidate, choose


def candidate(name: str, alpha: float, seed: int, val_mean: float, lr: float = 0.01, grouping: str = "choice") -> Candidate:
    return Candidate(name=name, seed=seed, alpha=alpha, weight_decay=1e-4, lr=lr, grouping=grouping, val_mean=val_mean, honest={}, oracle={},
                     per_type={}, seconds=0.0)


def test_the_setting_best_on_average_over_seeds_wins_not_the_luckiest_single_fit():
    rows = [candidate("2-4-6", 0.1, 0, 0.80), candidate("2-4-6", 0.1, 1, 0.60),  # mean 0.70, one lucky seed
            candidate("mean-all", 0.5, 0, 0.74), candidate("mean-all", 0.5, 1, 0.76)]  # mean 0.75
    chosen, fit, means = choose(rows)
    assert chosen == ("mean-all", 0.5, 1e-4, 0.01, "choice")
    assert fit.seed == 1 and means[("2-4-6", 0.1, 1e-4, 0.01, "choice")] == pytest.approx(0.70)


def test_learning_rates_are_settings_of_their_own():
    rows = [candidate("all", 0.1, 0, 0.73, lr=0.01), candidate("all", 0.1, 1, 0.72, lr=0.01),
            candidate("all", 0.1, 0, 0.74, lr=0.001), candidate("all", 0.1, 1, 0.745, lr=0.001)]
    chosen, fit, means = choose(rows)
    assert chosen == ("all", 0.1, 1e-4, 0.001, "choice")
    assert fit.seed == 1 and means[("all", 0.1, 1e-4, 0.01, "choice")] == pytest.approx(0.725)


def test_groupings_are_settings_of_their_own_and_name_their_training_flags():
    from evaluation.features_choice import grouping_flags

    rows = [candidate("all", 0.1, 0, 0.74), candidate("all", 0.1, 0, 0.79, grouping="user:10")]
    chosen, _, _ = choose(rows)
    assert chosen[-1] == "user:10"
    assert grouping_flags("user:10") == ("user", 10) and grouping_flags("choice") == ("choice", 0)
    for bad in ("user", "choice:3", "annotator:4"):
        with pytest.raises(SystemExit):
            grouping_flags(bad)
