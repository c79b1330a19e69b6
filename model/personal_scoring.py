"""One user's view of the mixture, as the service computes it per request. Pure torch, no I/O:
the service embeds the texts and reads the user's state; everything tensor-shaped happens here.

Shapes: N responses, K heads, D embedding size, C candidate pairs.

    weights   w = softmax(s (R p + b) + u + c)   u: the user's offset, c: the stated-context offset
                                                 (pseudo-label + S q, with_stated_context),
                                                 s: routing.prior_strength (model.prior_strength)
    scores    s_n = sum_k w_k r_k(n)            ranking: indices by descending score
    P(first response > second) = sigmoid(s_0 - s_1)   over 1/2 exactly when s_0 > s_1 (0 ranks first)

The pair probability is Bradley-Terry on the scores, so it and the ranking give one answer. The
mixture likelihood sum_k w_k sigmoid(r_k(0) - r_k(1)) (trained on; used by the online update and
active learning) can disagree with the ranking, so it is not what a client is shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from model.active import best_query
from model.heads import MixtureRewardModel, mixture_score, score_preference_probability
from model.losses import entropy
from model.routing import RoutingConfig, context_offset, head_losses


@dataclass(frozen=True)
class PersonalScores:
    head_rewards: torch.Tensor  # (N, K) r_k(n)
    weights: torch.Tensor  # (K,) the user's mixture weights for this prompt
    scores: torch.Tensor  # (N,) sum_k w_k r_k
    ranking: list[int]  # (N,) response indices, best first (ties keep their order)
    p_first_preferred: float | None  # sigmoid(s_0 - s_1) when N == 2, else None: > 1/2 iff s_0 > s_1
    weight_entropy: float  # entropy of the weights, nats


@dataclass(frozen=True)
class QueryChoice:
    pair: tuple[int, int]  # indices of the two responses to ask about
    expected_gain: float  # routing.active_criterion's value: expected weight-entropy drop or label-head information
    weights: torch.Tensor  # (K,) the user's current weights for this prompt


@torch.inference_mode()
def mixture_weights(model: MixtureRewardModel, prompt_emb: torch.Tensor, offset: torch.Tensor | None) -> torch.Tensor:
    """(B, D) router inputs, (K,) offset or None for the prior -> (B, K) mixture weights."""
    return model.log_weights(prompt_emb, offset).exp()


@torch.inference_mode()
def base_weights(model: MixtureRewardModel, offset: torch.Tensor) -> torch.Tensor:
    """(K,) offset -> (K,) softmax(s b + u): the user's weights before any prompt is seen (s = prior strength)."""
    return torch.softmax(model.prior_strength * model.router.bias + offset, -1)


@torch.inference_mode()
def personal_scores(head_rewards: torch.Tensor, weights: torch.Tensor) -> PersonalScores:
    """(N, K) per-head rewards, (K,) weights -> scores, ranking, and P(first > second) for a pair."""
    return _ranked(head_rewards, weights, mixture_score(head_rewards, weights), float(entropy(weights.log())))


@torch.inference_mode()
def score_requests(
    model: MixtureRewardModel, router_emb: torch.Tensor, pair_emb: torch.Tensor, sizes: Sequence[int],
    offsets: torch.Tensor,
) -> list[PersonalScores]:
    """I requests at once, each with its own router input, user offset and N_i responses:
    (I, D) router inputs, (M, D) responses (request i's N_i rows after those of 0..i-1, M = sum N_i),
    (I, K) offsets (a zero row: the prior) -> per request :func:`personal_scores`. One forward of the
    heads and the router for all requests (a /v1/score call is I = 1; /get_reward, N_i = 1)."""
    head_rewards = model.rewards(pair_emb)  # (M, K)
    log_w = model.log_weights(router_emb, offsets)  # (I, K)
    weights = log_w.exp()
    owner = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(list(sizes), dtype=torch.long))  # (M,)
    scores = mixture_score(head_rewards, weights[owner])  # (M,)
    entropies = entropy(log_w).tolist()  # (I,)
    out, start = [], 0
    for i, n in enumerate(sizes):
        rows = slice(start, start + n)
        out.append(_ranked(head_rewards[rows], weights[i], scores[rows], entropies[i]))
        start += n
    return out


def _ranked(head_rewards: torch.Tensor, weights: torch.Tensor, scores: torch.Tensor, weight_entropy: float
            ) -> PersonalScores:
    values = scores.tolist()
    p_first = float(score_preference_probability(scores[0], scores[1])) if len(values) == 2 else None
    ranking = sorted(range(len(values)), key=lambda i: -values[i])
    return PersonalScores(head_rewards, weights, scores, ranking, p_first, weight_entropy)


@torch.inference_mode()
def with_stated_context(
    model: MixtureRewardModel, statement_emb: torch.Tensor, offset: torch.Tensor | None, cfg: RoutingConfig
) -> torch.Tensor:
    """(2, D) embeddings of the stated context and of the neutral statement, (K,) user offset or
    None -> (K,) the offset plus the context's offset: its pseudo-label (model.routing.context_offset)
    and the fitted statement logits S (emb(context) - emb(neutral))."""
    r = model.rewards(statement_emb)  # (2, K): the context, the neutral statement
    c = context_offset(r[0], r[1], cfg) + model.statement_logits(statement_emb[0] - statement_emb[1])
    return c if offset is None else offset + c


@torch.inference_mode()
def feedback_terms(
    model: MixtureRewardModel, prompt_emb: torch.Tensor, pair_emb: torch.Tensor, context: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(1, D) router input, (2, D) chosen then rejected, (K,) stated-context offset or None ->
    prior logits (K,) = R p + b + c (where the update starts) and per-head losses L (K,)."""
    prior_logits = model.router_logits(prompt_emb, context)[0]  # (K,)
    rewards = model.rewards(pair_emb)  # (2, K): chosen, rejected
    return prior_logits, head_losses(rewards[0], rewards[1])


@torch.inference_mode()
def most_informative_pair(
    model: MixtureRewardModel,
    prompt_emb: torch.Tensor,
    pair_emb: torch.Tensor,
    offset: torch.Tensor | None,
    cfg: RoutingConfig,
) -> QueryChoice:
    """(1, D) router input, (N, D) responses, (K,) offset -> the pair of responses whose label is
    expected to teach the most about the user (all C = N(N-1)/2 pairs), under ``cfg.active_criterion``:
    "entropy", the largest expected drop of the entropy of the user's weights, or "information",
    the most information the answer carries about which head the user follows (model/active.py)."""
    rewards = model.rewards(pair_emb)  # (N, K)
    prior = model.router_logits(prompt_emb)  # (1, K)
    n = rewards.shape[0]
    first, second = torch.triu_indices(n, n, offset=1)  # (C,) each
    u = offset if offset is not None else torch.zeros(model.num_heads)
    pick, gain = best_query(u, prior.expand(len(first), -1), rewards[first], rewards[second], cfg,
                            criterion=cfg.active_criterion)
    weights = mixture_weights(model, prompt_emb, offset)[0]  # (K,)
    return QueryChoice(pair=(int(first[pick]), int(second[pick])), expected_gain=float(gain[pick]), weights=weights)
