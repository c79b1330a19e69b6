import math

import torch

from model.head_scale import equal_spread_factors, rescale_heads
from model.heads import MixtureRewardModel


def test_factors_put_every_head_on_the_geometric_mean_spread():
    # head 0 differences (1, -1): std 1; head 1 (4, -4): std 4; gmean 2 -> factors 2 and 1/2
    diff = torch.tensor([[1.0, 4.0], [-1.0, -4.0]])
    c = equal_spread_factors(diff)
    assert torch.allclose(c, torch.tensor([2.0, 0.5]))
    assert torch.allclose((diff * c).std(0, unbiased=False), torch.tensor([2.0, 2.0]))


def test_a_head_with_no_spread_and_columns_past_learned_keep_one():
    diff = torch.tensor([[1.0, 0.0, 9.0], [-1.0, 0.0, -9.0]])
    assert torch.allclose(equal_spread_factors(diff, learned=2), torch.tensor([1.0, 1.0, 1.0]))
    diff = torch.tensor([[1.0, 9.0, 5.0], [-1.0, -9.0, -5.0]])
    assert torch.allclose(equal_spread_factors(diff, learned=2), torch.tensor([3.0, 1 / 3, 1.0]))


def test_rescale_multiplies_each_head_and_keeps_its_ranking():
    torch.manual_seed(0)
    m = MixtureRewardModel(dim=3, num_heads=2)
    e = torch.randn(5, 3)
    before = m.rewards(e).detach()
    rescale_heads(m, torch.tensor([2.0, 0.5]))
    after = m.rewards(e).detach()
    assert torch.allclose(after, before * torch.tensor([2.0, 0.5]))
    assert torch.equal(after.argsort(0), before.argsort(0))


def test_expert_column_is_left_alone():
    m = MixtureRewardModel(dim=3, num_heads=1, expert=True)
    with torch.no_grad():
        m.heads.weight.fill_(1.0)
    rescale_heads(m, torch.tensor([3.0, 7.0]))
    r = m.rewards(torch.tensor([[1.0, 0.0, 0.5]]))
    assert math.isclose(float(r[0, 0]), 4.5) and math.isclose(float(r[0, 1]), 0.5)
