"""POST /v1/feedback: one preference label -> the online routing update of the user."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter

from service.deps import WriteApi, prompt_args
from service.schemas import FeedbackRequest, FeedbackResponse

router = APIRouter(tags=["feedback"])


@router.post("/v1/feedback", response_model=FeedbackResponse)
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
