"""Preference labels -> the online routing update, for one label (POST /v1/feedback: a batch of
one) and for many labels of one user (POST /v1/users/{id}/feedback:batch), applied in order.

Two Redis round trips whatever the number of labels: one read (the user's state and which of the
labels' feedback ids were applied before; the texts are prepared meanwhile), then one run of the
update script (service/state/update_script.py) with every label not yet applied; none when all
were, so a retried request costs one read and no embedding. With a tenant quota (auth on), the
tenant's reserve is one more (service/state/tenant_quota.py), before the script. The script applies the labels one
after the other, each from the offset the previous one left, exactly as the same labels posted one
by one would be (the prior logits and per-head losses depend only on the texts and the stated
context; the Hedge target depends on the weights, which the script carries along).

A label without a ``context`` is routed with the stored context; if that changes between the read
and the script, the script writes nothing and the labels are recomputed (at most CONTEXT_RETRIES
times, then 409). Each applied label's texts join the user's kept history
(service/inference/user_history.py) in the same script run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from model.routing import RoutingConfig
from service.core import metrics
from service.core.errors import ContextConflict, FeedbackIdReused, StoreUnavailable, reused_id_detail
from service.inference.preference_label import Label
from service.state.records import ContextChanged, FeedbackOutcome

if TYPE_CHECKING:  # annotations only: not imported at run time
    from service.core.active_users import ActiveUsers
    from service.inference.label_terms import LabelTermsMaker
    from service.inference.user_history import UserHistory
    from service.state.user_store import UserStore

CONTEXT_RETRIES = 3  # labels racing a context change are recomputed this many times


@dataclass(frozen=True)
class FeedbackOutcomes:
    results: list[FeedbackOutcome]  # per label, in order
    applied: int  # labels applied by this call
    duplicates: int  # labels applied before (their first result returned)
    n_feedback: int  # the user's labels after the call
    version: int  # the user's state version after the call


class FeedbackWriter:
    """Applies a user's labels in order, atomically per script run and idempotently per label."""

    def __init__(self, store: UserStore, history: UserHistory, terms: LabelTermsMaker, routing: RoutingConfig,
                 active: ActiveUsers) -> None:
        self.store, self.history, self.terms, self.routing, self.active = store, history, terms, routing, active

    async def apply(self, user_id: str, labels: Sequence[Label]) -> FeedbackOutcomes:
        self.active.touch(user_id)
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

    async def _apply(self, user_id: str, labels: Sequence[Label], ids: list[str]) -> FeedbackOutcomes:
        snapshot, prepared = await asyncio.gather(self.history.snapshot(user_id, ids), self.terms.prepare(labels))
        state, results = snapshot.state, list(snapshot.previous)
        refuse_reused_ids(ids, [label.digest() for label in labels], results)
        for _ in range(CONTEXT_RETRIES):
            todo = [i for i, r in enumerate(results) if r is None]
            if not todo:
                break
            stored = state.context if state else None
            terms = await self.terms.terms([labels[i] for i in todo], [prepared[i] for i in todo],
                                           [ids[i] for i in todo], stored)
            try:
                outs = await self.store.apply_labels(
                    user_id, terms, self.routing, expected_context=stored,
                    check_context=any(labels[i].context is None for i in todo),
                    history=[labels[i].to_history(ids[i]) for i in todo],
                    stored_bytes=snapshot.history_bytes + snapshot.context_bytes,
                )
            except ContextChanged:
                snapshot = await self.history.snapshot(user_id, ids)
                state, results = snapshot.state, list(snapshot.previous)
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
        return FeedbackOutcomes(done, applied, len(done) - applied, *current)


def refuse_reused_ids(ids: Sequence[str], digests: Sequence[str], previous: Sequence[FeedbackOutcome | None]) -> None:
    """409 before any write when an id was applied with another label, or comes twice in the call with two
    labels (the update script checks the same again, atomically, for a write racing this read)."""
    first: dict[str, str] = {}
    for feedback_id, digest, prev in zip(ids, digests, previous, strict=True):
        kept = prev.digest if prev is not None and prev.digest else first.setdefault(feedback_id, digest)
        if kept != digest:
            raise FeedbackIdReused(reused_id_detail(feedback_id))
