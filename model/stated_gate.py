"""The stated-context half of a backbone variant's accuracy gate (model/fit_variant.py).

A user who states a preference is weighed from three texts the backbone reads: the router's input (the statement
then the prompt, in the router's window), the statement alone (S q, and the pseudo-label's head rewards) and the
neutral statement. A variant (bf16) reads all three differently from fp32, so the gate scores the served weights
on stated examples too: each validation pair of the gate given one validation statement of its user type
(model/statements/validation.json; relabeled HH's refusal pairs twice, a harmless statement preferring the
refusal and a helpful one the answer, as model.fit_router builds them), weighed as
model.router_scores.served_stated_weights weighs them (the service's path), per user type.

The pairs' response embeddings are the gate's own (one forward per pair text, shared with the plain figures);
only the router texts and the statements are read again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from model.backbone import Encoder
from model.data import PreferencePair
from model.features import router_text
from model.fitting import PairTensors
from model.heads import MixtureRewardModel
from model.onnx_gate import Forward, features
from model.refusal_pairs import stated_refusal_pairs
from model.router_examples import VALIDATION_STATEMENTS, load_statements, with_statements
from model.router_scores import group_means
from model.routing import NEUTRAL_CONTEXT, RoutingConfig, context_offset


@dataclass(frozen=True)
class StatedExamples:
    pairs: list[PreferencePair]  # the stated copies (context set), in order
    base: torch.Tensor  # (N,) index of each copy's pair among the gate's pairs
    sign: torch.Tensor  # (N,) +1, or -1 where the copy prefers the pair's rejected response
    groups: list[str]  # (N,) the user type each copy's accuracy is averaged in


def stated_examples(pairs: Sequence[PreferencePair], statements: dict[str, list[str]] | None = None) -> StatedExamples:
    """Each gate pair with one statement of its user type (a refusal pair: one harmless, one helpful copy)."""
    statements = load_statements(VALIDATION_STATEMENTS) if statements is None else statements
    copies, base, sign = [], [], []
    for i, pair in enumerate(pairs):
        stated = (stated_refusal_pairs([pair], statements, 1) if pair.dataset == "hh_refusals"
                  else with_statements([pair], statements, 1))
        for copy in stated:
            copies.append(copy)
            base.append(i)
            sign.append(1.0 if copy.chosen == pair.chosen else -1.0)
    # grouped by data set and user type, never by user id: a team's users each holding a few pairs would make
    # groups where one flipped pair moves the accuracy past any bound
    groups = [f"{p.dataset}/{p.user_type}" if p.user_type else p.dataset for p in copies]
    return StatedExamples(copies, torch.tensor(base, dtype=torch.long), torch.tensor(sign), groups)


def stated_weights(model: MixtureRewardModel, encoder: Encoder, forward: Forward, prompts: Sequence[str],
                   ex: StatedExamples, routing: RoutingConfig) -> torch.Tensor:
    """(N, K) the weights the service gives each stated copy's user (no labels): softmax(s (R p + b) + S q + c),
    p the statement then the prompt in the router's window, q the statement alone minus the neutral one, c the
    pseudo-label. ``prompts``: the gate pairs' prompt texts; ``forward``: the encoder's, or a variant's."""
    if not ex.pairs:  # no pair's type has a statement (a team's data keyed by user ids): nothing to score
        return torch.zeros(0, model.num_heads)
    routers = features(encoder, forward, [router_text(prompts[int(b)], p.context) for b, p in zip(ex.base, ex.pairs)],
                       encoder.router_max_length)
    contexts = sorted({p.context for p in ex.pairs})
    said = features(encoder, forward, contexts + [NEUTRAL_CONTEXT], encoder.max_length)
    at = {c: i for i, c in enumerate(contexts)}
    index = torch.tensor([at[p.context] for p in ex.pairs], dtype=torch.long)
    with torch.no_grad():
        r_said = model.rewards(said)
        offsets = torch.stack([context_offset(r_said[i], r_said[-1], routing) for i in range(len(contexts))])
        logits = (routing.prior_strength * model.router(routers) + model.statement_logits(said[index] - said[-1])
                  + offsets[index])
        return torch.softmax(logits, -1)


def stated_margins(model: MixtureRewardModel, encoder: Encoder, forward: Forward, pair_feats: PairTensors,
                   prompts: Sequence[str], ex: StatedExamples, routing: RoutingConfig) -> torch.Tensor:
    """(N,) the served score's margin, the copy's chosen minus its rejected response, under
    :func:`stated_weights`: > 0 where the stated user's reward prefers the chosen one. ``pair_feats``: the gate
    pairs' features read with ``forward``."""
    weights = stated_weights(model, encoder, forward, prompts, ex, routing)
    with torch.no_grad():
        diff = model.rewards(pair_feats.chosen[ex.base]) - model.rewards(pair_feats.rejected[ex.base])
        return (weights * diff).sum(-1) * ex.sign


def stated_by_type(correct: torch.Tensor, ex: StatedExamples) -> dict[str, dict[str, float]]:
    """Per stated user type: the served accuracy and the number of stated copies."""
    return {g: {"stated": acc, "pairs": ex.groups.count(g)} for g, acc in group_means(correct.float(), ex.groups).items()}
