"""A label's update terms under the running model: what the feedback script needs from the texts.

For each label (prompt, chosen, rejected, context): the prior logits z = R p + b + c where the
update starts (c: the stated context's offset, statement logits + pseudo-label, service/inference/stated_context.py) and
the per-head losses L_k = -log sigmoid(r_k(chosen) - r_k(rejected)) (model.personal_scoring.feedback_terms).
All texts of a request are prepared in one worker-thread call and embedded in one embedding call.

Shapes: B labels, C distinct contexts, K heads, D embedding size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from model.features import router_text
from model.heads import MixtureRewardModel
from model.personal_scoring import feedback_terms
from model.routing import RoutingConfig
from service.inference.preference_label import Label
from service.inference.stated_context import Statements
from service.inference.texts import TextRequest
from service.state.records import LabelTerms

if TYPE_CHECKING:  # annotations only: not imported at run time
    from service.inference.embedder import Embedder
    from service.inference.texts import Prepared, TextPreparer


class LabelTermsMaker:
    def __init__(self, model: MixtureRewardModel, routing: RoutingConfig, texts: TextPreparer, embedder: Embedder
                 ) -> None:
        self.model, self.routing, self.texts, self.embedder = model, routing, texts, embedder

    async def prepare(self, labels: Sequence[Label]) -> list[Prepared]:
        """Each label's texts (chat rendering, truncation), in a worker thread."""
        return await self.texts.prepare(
            [TextRequest(label.prompt, label.messages, (label.chosen, label.rejected)) for label in labels]
        )

    async def terms(self, labels: Sequence[Label], prepared: Sequence[Prepared], ids: Sequence[str],
                    stored: str | None) -> list[LabelTerms]:
        """Prior logits and per-head losses of each label (a label without a context is routed with
        the user's ``stored`` one)."""
        routed = [label.context if label.context is not None else stored for label in labels]
        statements = Statements.of(routed)
        pair_texts = [text for p in prepared for text in p.pair_texts]
        prompt_emb, emb = await self.embedder.embed(
            [router_text(p.prompt_text, c) for p, c in zip(prepared, routed)], pair_texts + statements.texts
        )  # (B, D), (2B + 2C, D)
        offsets = statements.offsets(self.model, self.routing, emb[len(pair_texts) :])
        out = []
        for i, (label, feedback_id, context) in enumerate(zip(labels, ids, routed)):
            prior_logits, losses = feedback_terms(
                self.model, prompt_emb[i : i + 1], emb[2 * i : 2 * i + 2], offsets[context] if context else None
            )  # (K,), (K,)
            out.append(LabelTerms(feedback_id, prior_logits.tolist(), losses.tolist(), label.digest()))
        return out
