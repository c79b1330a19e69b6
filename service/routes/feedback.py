"""POST /v1/feedback: one preference label -> the online routing update of the user.
POST /v1/users/{user_id}/feedback:batch: many labels of one user, applied in order."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter

from service.deps import UserPath, WriteApi, prompt_args
from service.feedback_batch import BatchFeedback, Label
from service.openapi import errors
from service.schemas import FeedbackBatchRequest, FeedbackBatchResponse, FeedbackRequest, FeedbackResponse

router = APIRouter(tags=["feedback"])


@router.post(
    "/v1/feedback", response_model=FeedbackResponse, responses=errors(401, 403, 409, 413, 422, 429, 500, 503, 504)
)
async def feedback(body: FeedbackRequest, api: WriteApi) -> FeedbackResponse:
    """Apply "chosen is better than rejected" to the user's router state (atomically).
    503 while Redis is unreachable; the same feedback_id twice applies once."""
    api.limits.feedback(body)
    outcome = await api.engine.feedback(
        user_id=api.caller.user_key(body.user_id),
        chosen=body.chosen,
        rejected=body.rejected,
        feedback_id=body.feedback_id,
        **prompt_args(body),
    )
    return FeedbackResponse(**dataclasses.asdict(outcome), user_id=body.user_id, feedback_id=body.feedback_id)


@router.post(
    "/v1/users/{user_id}/feedback:batch",
    response_model=FeedbackBatchResponse,
    responses=errors(401, 403, 409, 413, 422, 429, 500, 503, 504),
)
async def feedback_batch(user_id: UserPath, body: FeedbackBatchRequest, api: WriteApi) -> FeedbackBatchResponse:
    """Apply the user's labels in order, as many /v1/feedback posts would, in two Redis round
    trips; each label applies once by its feedback_id, so a retried batch applies nothing twice."""
    api.limits.feedback_batch(body)
    labels = [Label(item.chosen, item.rejected, feedback_id=item.feedback_id, **prompt_args(item)) for item in body.items]
    outcome = await BatchFeedback.of(api.engine).apply(api.caller.user_key(user_id), labels)
    results = [
        FeedbackResponse(**dataclasses.asdict(result), user_id=user_id, feedback_id=item.feedback_id)
        for result, item in zip(outcome.results, body.items, strict=True)
    ]
    return FeedbackBatchResponse(user_id=user_id, results=results, applied=outcome.applied,
                                 duplicates=outcome.duplicates, n_feedback=outcome.n_feedback, version=outcome.version)
