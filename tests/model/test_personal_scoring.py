"""One user's view of the mixture (what the service computes per request), against values
worked out by hand: K=2 heads, D=2, heads H = identity so the rewards are the embeddings."""

import math

import torch

from model.heads import MixtureRewardModel
from model.personal_scoring import (
    base_weights,
    feedback_terms,
    mixture_weights,
    most_informative_pair,
    personal_scores,
    score_requests,
    with_stated_context,
)
from model.routing import RoutingConfig

LN3 = math.log(3.0)
SIG1, SIG2 = 0.731059, 0.880797  # sigmoid(1), sigmoid(2)


def tiny_model(bias: tuple[float, float] = (LN3, 0.0)) -> MixtureRewardModel:
    """Rewards r = e; router logits (p_0 + b_0, b_1): a zero prompt gives w = softmax(b)."""
    model = MixtureRewardModel(dim=2, num_heads=2)
    with torch.no_grad():
        model.heads.weight.copy_(torch.eye(2))
        model.router.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 0.0]]))
        model.router.bias.copy_(torch.tensor(bias))
    return model.requires_grad_(False)


RESPONSES = torch.tensor([[1.0, 0.0], [0.0, 2.0]])  # r(0) = (1, 0), r(1) = (0, 2)


def test_mixture_weights_are_softmax_of_router_logits_plus_offset():
    model = tiny_model()
    assert torch.allclose(mixture_weights(model, torch.zeros(1, 2), None), torch.tensor([[0.75, 0.25]]), atol=1e-6)
    # offset (-ln 3, 0) cancels the bias: (0.5, 0.5)
    even = mixture_weights(model, torch.zeros(1, 2), torch.tensor([-LN3, 0.0]))
    assert torch.allclose(even, torch.tensor([[0.5, 0.5]]), atol=1e-6)


def test_personal_scores_rank_and_give_the_pair_probability():
    # w = (0.75, 0.25): s = (0.75 * 1, 0.25 * 2) = (0.75, 0.5)
    # P(0 > 1) = sigmoid(0.75 - 0.5) = sigmoid(0.25) = 0.562177
    got = personal_scores(RESPONSES, torch.tensor([0.75, 0.25]))
    assert torch.allclose(got.scores, torch.tensor([0.75, 0.5]))
    assert got.ranking == [0, 1]
    assert abs(got.p_first_preferred - 0.562177) < 1e-5


def test_personal_scores_rank_best_first_and_skip_pair_probability_beyond_two():
    # w = (0.5, 0.5): s = (0.5, 1.0, 0.0)
    got = personal_scores(torch.tensor([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]]), torch.tensor([0.5, 0.5]))
    assert torch.allclose(got.scores, torch.tensor([0.5, 1.0, 0.0]))
    assert got.ranking == [1, 0, 2]
    assert got.p_first_preferred is None


def test_a_request_is_scored_with_the_users_offset():
    # offset (-ln 3, 0) -> w = (0.5, 0.5): s = (0.5, 1.0); P(0 > 1) = sigmoid(0.5 - 1.0) = 0.377541
    (got,) = score_requests(tiny_model(), torch.zeros(1, 2), RESPONSES, [2], torch.tensor([[-LN3, 0.0]]))
    assert torch.allclose(got.weights, torch.tensor([0.5, 0.5]), atol=1e-6)
    assert torch.allclose(got.head_rewards, RESPONSES)
    assert torch.allclose(got.scores, torch.tensor([0.5, 1.0]), atol=1e-6)
    assert got.ranking == [1, 0]
    assert abs(got.p_first_preferred - 0.377541) < 1e-5
    assert abs(got.weight_entropy - math.log(2.0)) < 1e-5


def test_requests_are_routed_each_by_its_own_prompt():
    # prompt (0, 0) -> w = (0.75, 0.25), H = 0.562335; prompt (-ln 3, 0) -> w = (0.5, 0.5), H = ln 2
    # one response each: s = (0.75 * 1, 0.5 * 2) = (0.75, 1.0)
    prompts = torch.tensor([[0.0, 0.0], [-LN3, 0.0]])
    first, second = score_requests(tiny_model(), prompts, RESPONSES, [1, 1], torch.zeros(2, 2))
    assert torch.allclose(torch.cat([first.head_rewards, second.head_rewards]), RESPONSES)
    assert torch.allclose(torch.cat([first.scores, second.scores]), torch.tensor([0.75, 1.0]), atol=1e-6)
    assert abs(first.weight_entropy - 0.562335) < 1e-5 and abs(second.weight_entropy - math.log(2.0)) < 1e-5
    assert first.ranking == second.ranking == [0] and first.p_first_preferred is None


def test_requests_take_one_offset_each_and_own_their_rows():
    # offsets (-ln 3, 0) and (0, 0) on zero prompts: w = (0.5, 0.5) then (0.75, 0.25);
    # request 0 owns response 0 -> s = 0.5; request 1 owns responses 1 and 0 -> s = (0.5, 0.75)
    offsets = torch.tensor([[-LN3, 0.0], [0.0, 0.0]])
    emb = torch.cat([RESPONSES, RESPONSES[:1]])  # rows: r(0), r(1), r(0)
    first, second = score_requests(tiny_model(), torch.zeros(2, 2), emb, [1, 2], offsets)
    assert torch.allclose(first.scores, torch.tensor([0.5]), atol=1e-6)
    assert torch.allclose(second.scores, torch.tensor([0.5, 0.75]), atol=1e-6)
    assert second.ranking == [1, 0]
    assert abs(second.p_first_preferred - 0.437823) < 1e-5  # sigmoid(0.5 - 0.75)


def test_base_weights_ignore_the_prompt():
    # softmax(b + u) = softmax(ln 3, ln 3) = (0.5, 0.5)
    assert torch.allclose(base_weights(tiny_model(), torch.tensor([0.0, LN3])), torch.tensor([0.5, 0.5]), atol=1e-6)


def test_feedback_terms_are_prior_logits_and_per_head_losses():
    # chosen r = (2, 0), rejected r = (0, 0): L = (-ln sigmoid(2), ln 2) = (0.126928, 0.693147)
    # prior logits = (0 + ln 3, 0) + context (0.1, -0.1) = (1.198612, -0.1)
    prior, losses = feedback_terms(
        tiny_model(), torch.zeros(1, 2), torch.tensor([[2.0, 0.0], [0.0, 0.0]]), torch.tensor([0.1, -0.1])
    )
    assert torch.allclose(prior, torch.tensor([LN3 + 0.1, -0.1]), atol=1e-6)
    assert torch.allclose(losses, torch.tensor([-math.log(SIG2), math.log(2.0)]), atol=1e-6)


def test_stated_context_adds_its_pseudo_label_to_the_users_offset():
    # context r = (2, 0), neutral r = (0, 0): c = -L centred = (0.283110, -0.283110)
    statements = torch.tensor([[2.0, 0.0], [0.0, 0.0]])
    cfg = RoutingConfig(context_strength=1.0)
    alone = with_stated_context(tiny_model(), statements, None, cfg)
    assert torch.allclose(alone, torch.tensor([0.283110, -0.283110]), atol=1e-5)
    added = with_stated_context(tiny_model(), statements, torch.tensor([1.0, 1.0]), cfg)
    assert torch.allclose(added, torch.tensor([1.283110, 0.716890]), atol=1e-5)


def test_stated_context_adds_the_fitted_statement_logits():
    # S = [[0, 1], [0, -1]]; q = context - neutral = (2, 0) - (0, 0) -> S q = (0, 0); with q = (2, 1) - (0, 0):
    # S q = (1, -1), plus the pseudo-label of r = (2, 1) vs (0, 0): L = (-ln s(2), -ln s(1)) centred, negated
    model = tiny_model()
    with torch.no_grad():
        model.statement_router.weight.copy_(torch.tensor([[0.0, 1.0], [0.0, -1.0]]))
    cfg = RoutingConfig(context_strength=1.0)
    same = with_stated_context(model, torch.tensor([[2.0, 0.0], [0.0, 0.0]]), None, cfg)
    assert torch.allclose(same, torch.tensor([0.283110, -0.283110]), atol=1e-5)
    l0, l1 = -math.log(SIG2), -math.log(1 / (1 + math.exp(-1)))
    pseudo = (l1 - l0) / 2
    got = with_stated_context(model, torch.tensor([[2.0, 1.0], [0.0, 0.0]]), None, cfg)
    assert torch.allclose(got, torch.tensor([pseudo + 1.0, -pseudo - 1.0]), atol=1e-5)


def test_most_informative_pair_is_the_one_the_heads_disagree_on():
    # w = (0.5, 0.5), exact Hedge, tau = 1; responses r = (0, 0), (3, 3), (3, -3)
    # pair (0, 1): both heads prefer 1 by 3 -> gain 0
    # pair (0, 2): margins (-3, 3); after either label w = (0.952574, 0.047426) up to order,
    #   entropy 0.190865, p = 0.5 -> gain ln 2 - 0.190865 = 0.502282
    # pair (1, 2): margins (0, 6) -> gain 0.208459 (smaller)
    responses = torch.tensor([[0.0, 0.0], [3.0, 3.0], [3.0, -3.0]])
    cfg = RoutingConfig(tau=1.0, mode="hedge")
    got = most_informative_pair(tiny_model(bias=(0.0, 0.0)), torch.zeros(1, 2), responses, None, cfg)
    assert got.pair == (0, 2)
    assert abs(got.expected_gain - 0.502282) < 1e-5
    assert torch.allclose(got.weights, torch.tensor([0.5, 0.5]))


def test_most_informative_pair_follows_the_checkpoints_active_criterion():
    # w = (0.5, 0.5), mirror tau = 0.5, eta = 4; responses r = (3, -1), (3, 3), (2, 0)
    # pair (0, 1): margins (0, -4), head 1 confident, head 0 indifferent: the most label-head information
    # pair (0, 2): margins (1, -1), a symmetric disagreement: the largest expected entropy drop under this mirror step
    from dataclasses import replace

    from model.active import best_query, label_head_information

    responses = torch.tensor([[3.0, -1.0], [3.0, 3.0], [2.0, 0.0]])
    model, prompt = tiny_model(bias=(0.0, 0.0)), torch.zeros(1, 2)
    entropy_cfg = RoutingConfig(tau=0.5, eta=4.0, mode="mirror")
    information_cfg = replace(entropy_cfg, active_criterion="information")
    assert entropy_cfg.active_criterion == "entropy"  # the default: checkpoints written before the key
    by_entropy = most_informative_pair(model, prompt, responses, None, entropy_cfg)
    by_information = most_informative_pair(model, prompt, responses, None, information_cfg)
    assert by_entropy.pair == (0, 2) and by_information.pair == (0, 1)

    first, second = torch.tensor([0, 0, 1]), torch.tensor([1, 2, 2])
    info = label_head_information(torch.zeros(2), torch.zeros(3, 2), responses[first], responses[second])
    assert int(info.argmax()) == 0 and abs(by_information.expected_gain - float(info[0])) < 1e-6
    pick, gain = best_query(torch.zeros(2), torch.zeros(3, 2), responses[first], responses[second], entropy_cfg)
    assert pick == 1 and abs(by_entropy.expected_gain - float(gain[1])) < 1e-6
