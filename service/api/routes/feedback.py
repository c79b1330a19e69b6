"""POST /v1/feedback: one preference label -> the online routing update of the user.
POST /v1/users/{user_id}/feedback:batch: many labels of one user, applied in order.
Both go through the engine's one feedback path (a single label is a batch of one)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from fastapi import APIRouter, Request

from service.api.deps import UserPath, WriteApi, prompt_args
from service.api.openapi import errors
from service.api.schemas import (
    FeedbackBatchRequest,
    FeedbackBatchResponse,
    FeedbackLabel,
    FeedbackRequest,
    FeedbackResponse,
)
from service.core.errors import FEEDBACK_IDS_KEY
from service.core.ids import new_feedback_id
from service.inference.preference_label import Label

router = APIRouter(tags=["feedback"])
FEEDBACK_ERRORS = errors(401, 403, 409, 413, 422, 429, 500, 503, 504)


def labels_of(request: Request, items: Sequence[FeedbackLabel]) -> list[Label]:
    """The labels, each with its id: the client's, or one the service chose. The ids go to the request's
    state: a 5xx gives them back (service/core/errors.py), so that a client may retry with them, applying
    each label at most once, although it sent none."""
    labels = [Label(item.chosen, item.rejected, feedback_id=item.feedback_id or new_feedback_id(), **prompt_args(item))
              for item in items]
    request.scope.setdefault("state", {})[FEEDBACK_IDS_KEY] = [label.feedback_id for label in labels]
    return labels


@router.post("/v1/feedback", response_model=FeedbackResponse, responses=FEEDBACK_ERRORS)
async def feedback(body: FeedbackRequest, api: WriteApi, request: Request) -> FeedbackResponse:
    """Apply "chosen is better than rejected" to the user's router state (atomically).
    503 while Redis is unreachable (its body's feedback_ids: retry with them); the same feedback_id twice
    applies once (409 when the second label differs)."""
    api.limits.feedback(body)
    outcome = await api.engine.feedback(api.user_key(body.user_id), labels_of(request, [body]))
    (result,) = outcome.results
    return FeedbackResponse(**dataclasses.asdict(result), user_id=body.user_id, feedback_id=body.feedback_id)


@router.post("/v1/users/{user_id}/feedback:batch", response_model=FeedbackBatchResponse, responses=FEEDBACK_ERRORS)
async def feedback_batch(user_id: UserPath, body: FeedbackBatchRequest, api: WriteApi, request: Request
                         ) -> FeedbackBatchResponse:
    """Apply the user's labels in order, as many /v1/feedback posts would, in two Redis round
    trips; each label applies once by its feedback_id, so a retried batch applies nothing twice."""
    api.limits.feedback_batch(body)
    outcome = await api.engine.feedback(api.user_key(user_id), labels_of(request, body.items))
    results = [
        FeedbackResponse(**dataclasses.asdict(result), user_id=user_id, feedback_id=item.feedback_id)
        for result, item in zip(outcome.results, body.items, strict=True)
    ]
    return FeedbackBatchResponse(user_id=user_id, results=results, applied=outcome.applied,
                                 duplicates=outcome.duplicates, n_feedback=outcome.n_feedback, version=outcome.version)
