"""POST /v1/feedback: one preference label -> the online routing update of the user.
POST /v1/users/{user_id}/feedback:batch: many labels of one user, applied in order.
Both go through the engine's one feedback path (a single label is a batch of one)."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter

from service.api.deps import UserPath, WriteApi, prompt_args
from service.api.openapi import errors
from service.api.schemas import (
    FeedbackBatchRequest,
    FeedbackBatchResponse,
    FeedbackLabel,
    FeedbackRequest,
    FeedbackResponse,
)
from service.inference.preference_label import Label

router = APIRouter(tags=["feedback"])
FEEDBACK_ERRORS = errors(401, 403, 409, 413, 422, 429, 500, 503, 504)


def label_of(item: FeedbackLabel) -> Label:
    return Label(item.chosen, item.rejected, feedback_id=item.feedback_id, **prompt_args(item))


@router.post("/v1/feedback", response_model=FeedbackResponse, responses=FEEDBACK_ERRORS)
async def feedback(body: FeedbackRequest, api: WriteApi) -> FeedbackResponse:
    """Apply "chosen is better than rejected" to the user's router state (atomically).
    503 while Redis is unreachable; the same feedback_id twice applies once."""
    api.limits.feedback(body)
    outcome = await api.engine.feedback(api.user_key(body.user_id), [label_of(body)])
    (result,) = outcome.results
    return FeedbackResponse(**dataclasses.asdict(result), user_id=body.user_id, feedback_id=body.feedback_id)


@router.post("/v1/users/{user_id}/feedback:batch", response_model=FeedbackBatchResponse, responses=FEEDBACK_ERRORS)
async def feedback_batch(user_id: UserPath, body: FeedbackBatchRequest, api: WriteApi) -> FeedbackBatchResponse:
    """Apply the user's labels in order, as many /v1/feedback posts would, in two Redis round
    trips; each label applies once by its feedback_id, so a retried batch applies nothing twice."""
    api.limits.feedback_batch(body)
    outcome = await api.engine.feedback(api.user_key(user_id), [label_of(item) for item in body.items])
    results = [
        FeedbackResponse(**dataclasses.asdict(result), user_id=user_id, feedback_id=item.feedback_id)
        for result, item in zip(outcome.results, body.items, strict=True)
    ]
    return FeedbackBatchResponse(user_id=user_id, results=results, applied=outcome.applied,
                                 duplicates=outcome.duplicates, n_feedback=outcome.n_feedback, version=outcome.version)
