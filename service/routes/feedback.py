"""POST /v1/feedback: one preference label -> the online routing update of the user."""

from __future__ import annotations

from fastapi import APIRouter

from service.auth import Writer
from service.deps import EngineDep, LimitsDep
from service.schemas import FeedbackRequest, FeedbackResponse

router = APIRouter(tags=["feedback"])


@router.post("/v1/feedback", response_model=FeedbackResponse)
async def feedback(body: FeedbackRequest, engine: EngineDep, limits: LimitsDep, caller: Writer) -> FeedbackResponse:
    """Apply "chosen is better than rejected" to the user's router state (atomically).
    503 while Redis is unreachable; the same feedback_id twice applies once."""
    limits.feedback(body)
    outcome = await engine.feedback(
        user_id=caller.user_key(body.user_id),
        chosen=body.chosen,
        rejected=body.rejected,
        prompt=body.prompt,
        messages=[m.model_dump() for m in body.messages] if body.messages else None,
        context=body.context,
        feedback_id=body.feedback_id,
    )
    return FeedbackResponse(
        user_id=body.user_id,
        weights_before=outcome.weights_before,
        weights_after=outcome.weights_after,
        n_feedback=outcome.n_feedback,
        version=outcome.version,
        applied=outcome.applied,
        feedback_id=body.feedback_id,
    )
