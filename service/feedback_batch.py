"""Many labels of one user in one request (POST /v1/users/{id}/feedback:batch), applied in order.

Two Redis round trips per batch, whatever its size: one read (the user's state and which of
the batch's feedback ids were applied before), then one run of the update script
(service/routing_lua.py) with every label not yet applied; none when all were, so a retried
batch costs one read and no embedding. The script applies the labels one after the other, each
from the offset the previous one left, exactly as the same labels posted one by one to
/v1/feedback would be (the prior logits and per-head losses depend only on the texts and the
stated context; the Hedge target depends on the weights, which the script carries along).

All texts of the batch are prepared concurrently and embedded in one call (shared forwards).
A label without a ``context`` is routed with the stored context; if that changes between the
read and the script, the script writes nothing and the batch is recomputed (as single feedback).
Each applied label's texts join the user's kept history (service/user_history.py), in the same script run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from model import personal_scoring
from model.features import router_text
from model.heads import MixtureRewardModel
from model.routing import RoutingConfig
from service import metrics
from service.embedder import Embedder
from service.engine import RewardEngine, StateReader, context_texts
from service.errors import ContextConflict, StoreUnavailable
from service.labels import Label
from service.store import ContextChanged, FeedbackOutcome, LabelTerms, UserState, UserStore

CONTEXT_RETRIES = 3  # a batch racing a context change is recomputed this many times


@dataclass(frozen=True)
class BatchOutcome:
    results: list[FeedbackOutcome]  # per label, in order
    applied: int  # labels applied by this call
    duplicates: int  # labels applied before (their first result returned)
    n_feedback: int  # the user's labels after the batch
    version: int  # the user's state version after the batch


@dataclass(frozen=True)
class Prepared:
    prompt_text: str  # the backbone's text of the prompt (chat messages rendered)
    pair_texts: list[str]  # (2,) prompt + chosen, prompt + rejected


class BatchFeedback:
    """Applies a user's labels in order, atomically per script run and idempotently per label."""

    def __init__(self, model: MixtureRewardModel, routing: RoutingConfig, embedder: Embedder, store: UserStore,
                 history: StateReader | None = None) -> None:
        self.model, self.routing, self.embedder, self.store = model, routing, embedder, store
        self.history = history  # rebuilds a user's state from the kept history first (model upgrade)

    @classmethod
    def of(cls, engine: RewardEngine) -> BatchFeedback:
        """The batch path over the engine's model, routing settings, embedder, store and history."""
        return cls(engine.model, engine.routing, engine.embedder, engine.store, engine.history)

    async def _read(self, user_id: str, ids: list[str]) -> tuple[UserState | None, list[FeedbackOutcome | None]]:
        snapshot = await (self.history.snapshot(user_id, ids) if self.history else self.store.read(user_id, ids))
        return snapshot.state, snapshot.previous

    async def label_terms(self, labels: Sequence[Label], ids: Sequence[str], stored: str | None) -> list[LabelTerms]:
        """Each label's update terms under this model (texts prepared, then one embedding call)."""
        return await self._terms(labels, await self._prepare(labels), ids, stored)

    async def apply(self, user_id: str, labels: Sequence[Label]) -> BatchOutcome:
        ids = [self.store.feedback_id(label.feedback_id) for label in labels]
        try:
            outcome = await self._apply(user_id, labels, ids)
        except StoreUnavailable:
            metrics.FEEDBACK.labels("unavailable").inc(len(labels))
            raise
        except Exception:
            metrics.FEEDBACK.labels("error").inc(len(labels))
            raise
        metrics.FEEDBACK.labels("applied").inc(outcome.applied)
        metrics.FEEDBACK.labels("duplicate").inc(outcome.duplicates)
        return outcome

    async def _apply(self, user_id: str, labels: Sequence[Label], ids: list[str]) -> BatchOutcome:
        # the read first (~1 ms): the texts of labels applied before (a retried batch) are never prepared
        state, previous = await self._read(user_id, ids)
        results: list[FeedbackOutcome | None] = list(previous)
        prepared: dict[int, Prepared] = {}
        for _ in range(CONTEXT_RETRIES):
            todo = [i for i, r in enumerate(results) if r is None]
            if not todo:
                break
            missing = [i for i in todo if i not in prepared]
            prepared.update(zip(missing, await self._prepare([labels[i] for i in missing])))
            stored = state.context if state else None
            terms = await self._terms([labels[i] for i in todo], [prepared[i] for i in todo], [ids[i] for i in todo],
                                      stored)
            try:
                outs = await self.store.apply_labels(
                    user_id, terms, self.routing, expected_context=stored,
                    check_context=any(labels[i].context is None for i in todo),
                    history=[labels[i].to_history(ids[i]) for i in todo],
                )
            except ContextChanged:
                state, results = await self._read(user_id, ids)
                continue
            for i, out in zip(todo, outs, strict=True):
                results[i] = out
            break
        else:
            raise ContextConflict("the user's context changed during the update; retry")  # no internal key
        done = [r for r in results if r is not None]
        applied = sum(r.applied for r in done)
        last = max(done, key=lambda r: r.version)
        current = (state.n_feedback, state.version) if state and not applied else (last.n_feedback, last.version)
        return BatchOutcome(done, applied, len(done) - applied, *current)

    async def _prepare(self, labels: Sequence[Label]) -> list[Prepared]:
        """Each label's texts (chat rendering, truncation) in worker threads, concurrently."""
        prepared = await asyncio.gather(*(
            self.embedder.pair_texts(label.prompt, label.messages, [label.chosen, label.rejected]) for label in labels
        ))
        return [Prepared(prompt_text, texts) for prompt_text, texts, _ in prepared]

    async def _terms(
        self, labels: Sequence[Label], prepared: Sequence[Prepared], ids: Sequence[str], stored: str | None
    ) -> list[LabelTerms]:
        """Prior logits and per-head losses of each label; all texts embedded in one call."""
        routed = [label.context if label.context is not None else stored for label in labels]
        contexts = sorted({c for c in routed if c})
        statements = [text for c in contexts for text in context_texts(c)]
        pair_texts = [text for p in prepared for text in p.pair_texts]
        prompt_emb, emb = await self.embedder.embed(
            [router_text(p.prompt_text, c) for p, c in zip(prepared, routed)], pair_texts + statements
        )  # (B, D), (2B + 2C, D)
        statement_emb = emb[len(pair_texts):]
        offsets = {c: personal_scoring.with_stated_context(self.model, statement_emb[2 * j: 2 * j + 2], None,
                                                            self.routing) for j, c in enumerate(contexts)}
        terms = []
        for i, (feedback_id, context) in enumerate(zip(ids, routed)):
            prior_logits, losses = personal_scoring.feedback_terms(
                self.model, prompt_emb[i: i + 1], emb[2 * i: 2 * i + 2], offsets.get(context) if context else None
            )  # (K,), (K,)
            terms.append(LabelTerms(feedback_id, prior_logits.tolist(), losses.tolist()))
        return terms
