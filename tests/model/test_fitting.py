"""Stage-1 fitting on a tiny planted problem where the right answer is known."""

import torch

from model.fitting import FitConfig, PairTensors, fit_mixture, spherical_kmeans
from model.accuracy import best_head_by_type, mixture_correct


def planted(n_groups: int, seed: int) -> tuple[PairTensors, list[str]]:
    """Two user types on the same prompts: type A prefers feature 0, type B feature 1.
    Each choice is a group of 3 pairs (the chosen response against 3 others)."""
    gen = torch.Generator().manual_seed(seed)
    chosen, rejected, prompt, group, types = [], [], [], [], []
    for g in range(n_groups):
        kind = g % 2
        p = torch.randn(6, generator=gen)
        for _ in range(3):
            a, b = torch.randn(6, generator=gen), torch.randn(6, generator=gen)
            if (a[kind] - b[kind]) < 0:
                a, b = b, a
            chosen.append(a), rejected.append(b), prompt.append(p), group.append(g), types.append("AB"[kind])
    t = PairTensors(torch.stack(chosen), torch.stack(rejected), torch.stack(prompt), torch.tensor(group))
    return t, types


def test_mixture_recovers_planted_heads_that_single_bt_cannot():
    train, _ = planted(300, seed=0)
    val, _ = planted(60, seed=1)
    test, types = planted(200, seed=2)
    cfg = FitConfig(num_heads=2, restarts=2, max_steps=600, lr=0.05, seed=0)
    mixture = fit_mixture(train, val, cfg)
    best = best_head_by_type(mixture.model, test, types)
    assert best["A"][1] > 0.9 and best["B"][1] > 0.9
    assert best["A"][0] != best["B"][0]  # two different heads, one per type
    single = fit_mixture(train, val, FitConfig(num_heads=1, restarts=1, max_steps=600, lr=0.05))
    single_best = best_head_by_type(single.model, test, types)
    assert single_best["A"][1] < 0.85 or single_best["B"][1] < 0.85


def test_fit_is_deterministic_for_a_seed():
    train, _ = planted(50, seed=3)
    val, _ = planted(20, seed=4)
    cfg = FitConfig(num_heads=2, restarts=2, max_steps=100, seed=7)
    a, b = fit_mixture(train, val, cfg), fit_mixture(train, val, cfg)
    assert torch.equal(a.model.heads.weight, b.model.heads.weight)


def test_the_router_reads_the_prompts_width_when_the_heads_read_more():
    train, val = planted(50, seed=3)[0], planted(20, seed=4)[0]
    narrow = lambda t: PairTensors(t.chosen, t.rejected, t.prompt[:, :2], t.group)  # noqa: E731
    model = fit_mixture(narrow(train), narrow(val), FitConfig(num_heads=2, restarts=1, max_steps=20)).model
    assert model.heads.weight.shape == (2, 6) and model.router.weight.shape == (2, 2)


def test_group_ids_are_renumbered_and_counted():
    t = PairTensors(torch.zeros(3, 2), torch.zeros(3, 2), torch.tensor([[1.0, 0], [1.0, 0], [2.0, 0]]), torch.tensor([5, 5, 9]))
    assert t.num_groups == 2 and t.group_sizes().tolist() == [2, 1]


def test_spherical_kmeans_separates_opposite_directions():
    x = torch.cat([torch.tensor([[1.0, 0.1]]).repeat(5, 1), torch.tensor([[-1.0, 0.1]]).repeat(5, 1)])
    c = spherical_kmeans(x, 2, torch.Generator().manual_seed(0))
    assert torch.allclose(c.norm(dim=1), torch.ones(2))
    assert float(c[0] @ c[1]) < 0


def test_mixture_correct_is_a_bool_per_pair():
    train, _ = planted(10, seed=5)
    result = fit_mixture(train, train, FitConfig(num_heads=2, restarts=1, max_steps=20))
    assert mixture_correct(result.model, train).shape == (len(train),)


def test_pair_weights_decide_between_two_groups_of_users_who_disagree():
    # the same pairs labelled both ways: feature 0 wins in one copy, feature 1 in the other; a single
    # BT head follows whichever side carries the larger weight
    gen = torch.Generator().manual_seed(3)
    a, b = torch.randn(200, 4, generator=gen), torch.randn(200, 4, generator=gen)
    a[:, 0], b[:, 0] = a[:, 0].abs() + 0.5, -b[:, 0].abs() - 0.5  # a wins on feature 0
    a[:, 1], b[:, 1] = -a[:, 1].abs() - 0.5, b[:, 1].abs() + 0.5  # b wins on feature 1
    prompt = torch.zeros(400, 4)

    def fitted_preference(weight_for_a: float) -> float:
        weight = torch.cat([torch.full((200,), weight_for_a), torch.ones(200)])
        pairs = PairTensors(torch.cat([a, b]), torch.cat([b, a]), prompt, None, weight)
        cfg = FitConfig(num_heads=1, router="none", restarts=1, max_steps=300, lr=0.05, seed=0)
        model = fit_mixture(pairs, pairs, cfg).model
        return float(model.rewards(a - b).mean())  # > 0: the head prefers a

    assert fitted_preference(3.0) > 0 > fitted_preference(1 / 3)


def test_group_prior_is_the_mean_of_its_pairs_router_weights():
    from model.fitting import group_log_weights
    from model.heads import MixtureRewardModel

    model = MixtureRewardModel(2, 2)
    with torch.no_grad():
        model.router.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 0.0]]))
        model.router.bias.zero_()
    # prompts x=(ln 3, 0): w = (3/4, 1/4); x=(0, 0): w = (1/2, 1/2); x=(-ln 3, 0): w = (1/4, 3/4)
    ln3 = float(torch.tensor(3.0).log())
    prompt = torch.tensor([[ln3, 0.0], [0.0, 0.0], [-ln3, 0.0]])
    pairs = PairTensors(torch.zeros(3, 2), torch.zeros(3, 2), prompt, torch.tensor([0, 0, 1]))
    expected = torch.tensor([[5 / 8, 3 / 8], [1 / 4, 3 / 4]]).log()  # group 0: mean of (3/4,1/4), (1/2,1/2)
    assert torch.allclose(group_log_weights(model, pairs), expected, atol=1e-6)
