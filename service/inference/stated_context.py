"""A stated context ("I want short answers"), in the one place its offset is computed.

When a user states a context, the router reads it before the prompt (model.features.router_text),
and the context statement and the neutral "I want answers." are embedded beside the responses
(cached after the first request): the fitted statement logits S (emb(context) - emb(neutral)) and
the context's pseudo-label (model.routing.context_offset, one exact Hedge step) are added to the
user's offset (model.personal_scoring.with_stated_context). Scores, labels and the history replay all
take their context offsets from :meth:`Statements.offsets`.

Shapes: C distinct contexts, S = 2C statement texts, K heads, D embedding size.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch

from model.heads import MixtureRewardModel
from model.personal_scoring import with_stated_context
from model.routing import NEUTRAL_CONTEXT, RoutingConfig


@dataclass(frozen=True)
class Statements:
    """The distinct stated contexts of one request: their texts to embed beside the responses."""

    texts: list[str]  # (S,) context, neutral statement, context, neutral statement, ...
    start: dict[str, int]  # context -> index of its text in ``texts``

    @classmethod
    def of(cls, contexts: Iterable[str | None]) -> Statements:
        distinct = list(dict.fromkeys(c for c in contexts if c))
        return cls([t for c in distinct for t in (c, NEUTRAL_CONTEXT)], {c: 2 * i for i, c in enumerate(distinct)})

    def offsets(self, model: MixtureRewardModel, routing: RoutingConfig, statement_emb: torch.Tensor
                ) -> dict[str, torch.Tensor]:
        """(S, D) embeddings of ``texts`` -> per context its pseudo-label offset (K,)."""
        return {c: with_stated_context(model, statement_emb[at : at + 2], None, routing) for c, at in self.start.items()}


def with_context(offset: torch.Tensor | None, context: str | None, offsets: dict[str, torch.Tensor]
                 ) -> torch.Tensor | None:
    """A user's offset (K,) or None (the prior) plus the pseudo-label offset of their context, if any."""
    if not context:
        return offset
    return offsets[context] if offset is None else offset + offsets[context]
