"""Active query selection and the stated-context pseudo-label, against hand-computed values."""

import torch

from model.active import best_query, expected_information_gain
from model.routing import RoutingConfig, context_offset

CFG = RoutingConfig(tau=1.0, eta=1.0, mode="hedge")


def test_pair_on_which_heads_agree_teaches_nothing():
    # both heads prefer a by the same margin: equal losses, the Hedge target equals w
    gain = expected_information_gain(torch.zeros(2), torch.zeros(1, 2), torch.tensor([[3.0, 3.0]]), torch.zeros(1, 2), CFG)
    assert abs(float(gain[0])) < 1e-6


def test_pair_on_which_heads_disagree_is_asked_first():
    r_a = torch.tensor([[3.0, 3.0], [3.0, -3.0], [0.5, -0.5]])
    pick, gain = best_query(torch.zeros(2), torch.zeros(3, 2), r_a, torch.zeros(3, 2), CFG)
    assert pick == 1
    assert float(gain[1]) > float(gain[2]) > float(gain[0])


def test_no_gain_left_once_the_user_is_certain():
    gain = expected_information_gain(torch.tensor([30.0, -30.0]), torch.zeros(1, 2), torch.tensor([[3.0, -3.0]]), torch.zeros(1, 2), CFG)
    assert abs(float(gain[0])) < 1e-4


def test_context_offset_is_one_exact_hedge_pseudo_label():
    # L = (-ln sigmoid(2), ln 2) = (0.126928, 0.693147); c = -L centred = (0.283110, -0.283110)
    c = context_offset(torch.tensor([2.0, 0.0]), torch.zeros(2), RoutingConfig(context_strength=1.0))
    assert torch.allclose(c, torch.tensor([0.283110, -0.283110]), atol=1e-5)
    assert torch.equal(context_offset(torch.tensor([2.0, 0.0]), torch.zeros(2), RoutingConfig(context_strength=0.0)), torch.zeros(2))


def test_label_head_information_is_zero_where_heads_agree_and_largest_where_they_disagree():
    from model.active import label_head_information

    r_a = torch.tensor([[3.0, 3.0], [3.0, -3.0], [0.5, -0.5]])
    info = label_head_information(torch.zeros(2), torch.zeros(3, 2), r_a, torch.zeros(3, 2))
    assert abs(float(info[0])) < 1e-6
    assert float(info[1]) > float(info[2]) > 0
    pick, _ = best_query(torch.zeros(2), torch.zeros(3, 2), r_a, torch.zeros(3, 2), CFG, criterion="information")
    assert pick == 1


def test_label_head_information_matches_the_bald_formula_by_hand():
    from model.active import label_head_information

    # w = (1/2, 1/2), s = (sigmoid(2), sigmoid(-2)) = (0.880797, 0.119203): p = 1/2, H(p) = ln 2,
    # H(s_k) = 0.365334 each -> I = 0.693147 - 0.365334 = 0.327813
    info = label_head_information(torch.zeros(2), torch.zeros(1, 2), torch.tensor([[2.0, -2.0]]), torch.zeros(1, 2))
    assert abs(float(info[0]) - 0.327813) < 1e-5
