"""The store's public calls in the shapes the store tests read best: one label applied, a user's
state, a state with the first outcomes of feedback ids (all through UserStore.read / apply_labels)."""

from __future__ import annotations

from collections.abc import Sequence

from model.routing import RoutingConfig
from service.state.records import FeedbackOutcome, LabelTerms, UserState
from service.state.user_store import UserStore


async def apply_one(store: UserStore, user_id: str, prior_logits: Sequence[float], losses: Sequence[float],
                    cfg: RoutingConfig, *, feedback_id: str | None, expected_context: str | None = None,
                    check_context: bool = False, history: str | None = None) -> FeedbackOutcome:
    """One label through apply_labels (a missing feedback_id gets a random one, as the service does)."""
    label = LabelTerms(store.feedback_id(feedback_id), list(prior_logits), list(losses))
    (outcome,) = await store.apply_labels(user_id, [label], cfg, expected_context=expected_context,
                                          check_context=check_context, history=[history])
    return outcome


async def state_of(store: UserStore, user_id: str) -> UserState | None:
    return (await store.read(user_id)).state


async def with_feedbacks(store: UserStore, user_id: str, feedback_ids: Sequence[str]
                         ) -> tuple[UserState | None, list[FeedbackOutcome | None]]:
    snapshot = await store.read(user_id, feedback_ids)
    return snapshot.state, snapshot.previous


async def with_feedback(store: UserStore, user_id: str, feedback_id: str
                        ) -> tuple[UserState | None, FeedbackOutcome | None]:
    state, (previous,) = await with_feedbacks(store, user_id, [feedback_id])
    return state, previous
