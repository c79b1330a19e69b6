"""The context-aware router's loss and fit (model/context_routing.py), against hand-computed values."""

import math

import pytest
import torch
from torch import nn

from model.context_routing import (ContextRouter, RouterExamples, RouterFitConfig, fit_router, router_loss,
                                   served_correct, statement_basis)

LOG3 = math.log(3.0)


def one(logits, diff, loss, alpha=0.0):
    return float(router_loss(torch.tensor([logits]), torch.tensor([diff]), torch.ones(1), loss, alpha))


def test_uniform_weights_and_no_difference_cost_log_2_under_both_losses():
    assert one([0.0, 0.0], [0.0, 0.0], "mixture") == pytest.approx(math.log(2), abs=1e-6)
    assert one([0.0, 0.0], [0.0, 0.0], "score") == pytest.approx(math.log(2), abs=1e-6)


def test_mixture_and_score_losses_by_hand():
    # w = (0.75, 0.25), d = (2, -2)
    # mixture: -log(0.75 sigmoid(2) + 0.25 sigmoid(-2)) = -log(0.660598 + 0.029801) = 0.370486
    assert one([LOG3, 0.0], [2.0, -2.0], "mixture") == pytest.approx(0.370486, abs=1e-5)
    # score: -log sigmoid(0.75 * 2 - 0.25 * 2) = -log sigmoid(1) = 0.313262
    assert one([LOG3, 0.0], [2.0, -2.0], "score") == pytest.approx(0.313262, abs=1e-5)


def test_entropy_bonus_subtracts_alpha_times_entropy():
    # H(0.75, 0.25) = 0.215762 + 0.346574 = 0.562335
    assert one([LOG3, 0.0], [2.0, -2.0], "score", alpha=0.1) == pytest.approx(0.313262 - 0.0562335, abs=1e-5)


def test_weights_count_each_example_that_many_times():
    logits = torch.tensor([[LOG3, 0.0], [0.0, 0.0]])
    diff = torch.tensor([[2.0, -2.0], [0.0, 0.0]])
    weighted = float(router_loss(logits, diff, torch.tensor([3.0, 1.0]), "score", 0.0))
    assert weighted == pytest.approx((3 * 0.313262 + math.log(2)) / 4, abs=1e-5)


def test_unknown_loss_is_refused():
    with pytest.raises(ValueError, match="mixture"):
        one([0.0, 0.0], [0.0, 0.0], "hinge")


def routed_problem(n: int = 40) -> RouterExamples:
    """Context A (x = e0) is explained by head 0, context B (x = e1) by head 1."""
    x = torch.eye(2).repeat(n // 2, 1)  # (n, 2)
    diff = torch.where(x[:, :1] > 0, torch.tensor([[1.0, -1.0]]), torch.tensor([[-1.0, 1.0]]))
    return RouterExamples(x, diff)


@pytest.mark.parametrize("loss", ["mixture", "score"])
def test_fit_learns_to_route_each_context_to_its_head(loss):
    ex = routed_problem()
    init = ContextRouter.zeros(2, 2)
    assert served_correct(init, ex).sum() == 0  # uniform weights: every served difference is 0
    router, val_loss, steps = fit_router(init, ex, ex, RouterFitConfig(loss=loss, lr=0.1, max_steps=200))
    assert served_correct(router, ex).mean() == 1.0
    w = torch.softmax(router(torch.eye(2), torch.zeros(2, 2)), -1)
    assert w[0, 0] > 0.9 and w[1, 1] > 0.9
    assert val_loss < math.log(2) and steps > 0
    assert sum(float(q.detach().abs().sum()) for q in init.parameters()) == 0.0  # the initial router is copied, never changed


def test_grouped_loss_by_hand_and_equal_to_mixture_with_one_example_per_group():
    # one group of two examples, weights (0.75, 0.25) and (0.25, 0.75): mean (0.5, 0.5);
    # evidence per head: head 0 log sigmoid(2) + log sigmoid(2), head 1 log sigmoid(-2) * 2
    logits = torch.tensor([[LOG3, 0.0], [0.0, LOG3]])
    diff = torch.tensor([[2.0, -2.0], [2.0, -2.0]])
    s2, sm2 = 1 / (1 + math.exp(-2)), 1 / (1 + math.exp(2))
    want = -math.log(0.5 * s2 * s2 + 0.5 * sm2 * sm2) / 2
    got = float(router_loss(logits, diff, torch.ones(2), "grouped", 0.0, torch.tensor([0, 0])))
    assert got == pytest.approx(want, abs=1e-5)
    alone = float(router_loss(logits, diff, torch.ones(2), "grouped", 0.0, torch.tensor([0, 1])))
    assert alone == pytest.approx(float(router_loss(logits, diff, torch.ones(2), "mixture", 0.0)), abs=1e-6)


def test_fit_with_groups_routes_each_context_to_its_head():
    ex = routed_problem()
    ex = RouterExamples(ex.prompt, ex.diff, group=torch.arange(len(ex)) % 2)  # group = context
    init = ContextRouter.zeros(2, 2)
    router, _, _ = fit_router(init, ex, ex, RouterFitConfig(loss="grouped", lr=0.1, max_steps=200))
    assert served_correct(router, ex).mean() == 1.0


def test_the_statement_term_routes_when_the_prompt_says_nothing():
    # every prompt the same; only the statement (q = +e0 or +e1) tells which head the user follows
    n = 8
    q = torch.eye(2).repeat(n // 2, 1)
    diff = torch.where(q[:, :1] > 0, torch.tensor([[1.0, -1.0]]), torch.tensor([[-1.0, 1.0]]))
    ex = RouterExamples(torch.ones(n, 2), diff, statement=q)
    router, _, _ = fit_router(ContextRouter.zeros(2, 2), ex, ex, RouterFitConfig(loss="mixture", lr=0.1, max_steps=200))
    assert served_correct(router, ex).mean() == 1.0
    assert float(router.statement.weight.abs().sum()) > 0
    assert torch.equal(RouterExamples(torch.ones(3, 2), torch.ones(3, 2)).statement, torch.zeros(3, 2))


def test_statement_basis_is_each_types_unit_mean_on_the_chosen_coordinates():
    # two types, 4-d statements, basis read on coordinates 0..1 only
    q = torch.tensor([[2.0, 0.0, 5.0, 5.0], [0.0, 2.0, 5.0, 5.0], [0.0, -3.0, 1.0, 1.0]])
    basis = statement_basis(q, ["a", "a", "b"], slice(0, 2))
    s = 1 / math.sqrt(2)
    assert torch.allclose(basis, torch.tensor([[s, s, 0.0, 0.0], [0.0, -1.0, 0.0, 0.0]]))


def test_statement_basis_keeps_the_top_directions_when_types_outnumber_its_rows():
    q = torch.eye(3) * torch.tensor([[3.0], [2.0], [1.0]])  # three types along the axes, shrinking
    basis = statement_basis(q, ["a", "b", "c"], slice(0, 3), max_rows=2)
    assert basis.shape == (2, 3)
    assert torch.allclose(basis.abs(), torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))  # e0, e1 (up to sign)


def test_a_basis_router_routes_by_the_statements_direction_and_exports_s_as_a_times_b():
    n = 8
    q = torch.eye(2).repeat(n // 2, 1)
    diff = torch.where(q[:, :1] > 0, torch.tensor([[1.0, -1.0]]), torch.tensor([[-1.0, 1.0]]))
    ex = RouterExamples(torch.ones(n, 2), diff, statement=q)
    basis = torch.tensor([[1.0, 0.0]])  # one type's direction: e0
    router, _, _ = fit_router(ContextRouter.zeros(2, 2, basis), ex, ex,
                              RouterFitConfig(loss="mixture", lr=0.1, max_steps=200))
    assert router.statement.weight.shape == (2, 1)
    assert torch.allclose(router.statement_matrix(), router.statement.weight @ basis)
    assert float(router.statement_matrix()[:, 1].abs().sum()) == 0.0  # e1 is outside the basis: S never reads it
    assert served_correct(router, ex).mean() == 1.0  # +e0 or not is enough to tell the two users apart
    plain = ContextRouter(router.router, nn.Linear(2, 2, bias=False))
    with torch.no_grad():
        plain.statement.weight.copy_(router.statement_matrix())
    assert torch.allclose(plain(ex.prompt, ex.statement), router(ex.prompt, ex.statement))  # as the service computes it
