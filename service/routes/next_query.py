"""POST /v1/users/{id}/next-query: which pair should this user label next (active learning)."""

from __future__ import annotations

from fastapi import APIRouter

from service.auth import Reader
from service.deps import EngineDep, LimitsDep
from service.routes.users import UserPath
from service.schemas import NextQueryRequest, NextQueryResponse

router = APIRouter(tags=["users"])


@router.post("/v1/users/{user_id}/next-query", response_model=NextQueryResponse)
async def next_query(user_id: UserPath, body: NextQueryRequest, engine: EngineDep, limits: LimitsDep,
                     caller: Reader) -> NextQueryResponse:
    """Of all pairs among the responses, the one whose label is expected to reduce the
    uncertainty about this user's head weights the most (see model/active.py)."""
    limits.score(body)  # same limits as scoring: number of responses, characters per text
    result = await engine.next_query(
        user_id=caller.user_key(user_id),
        responses=body.responses,
        prompt=body.prompt,
        messages=[m.model_dump() for m in body.messages] if body.messages else None,
        context=body.context,
    )
    return NextQueryResponse(
        pair=result.pair,
        expected_gain=result.expected_gain,
        weights=result.weights,
        weights_source=result.weights_source,
        model_version=engine.model_version,
    )
