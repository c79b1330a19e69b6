"""Who is asking: each user's offset and stated context, read from Redis (one round trip per
distinct user, all concurrently), through the kept history after a model upgrade
(service/inference/user_history.py); the prior when Redis is down (``prior_degraded``)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from service.core import metrics
from service.core.errors import StoreUnavailable

if TYPE_CHECKING:  # annotations only: not imported at run time
    from service.core.active_users import ActiveUsers
    from service.inference.user_history import UserHistory

Who = tuple[str | None, str | None]  # (the store's user id or None, stated context or None)


@dataclass(frozen=True)
class Personal:
    offset: torch.Tensor | None  # (K,) or None for the prior
    context: str | None  # what the router reads before the prompt
    source: str  # user | prior | prior_degraded


class Users:
    """Reads the users of a request."""

    def __init__(self, history: UserHistory, active: ActiveUsers) -> None:
        self.history, self.active = history, active

    async def personals(self, who: Sequence[Who]) -> list[Personal]:
        """Per sample, its user's offset and context; each distinct (user, context) read once, all
        concurrently."""
        distinct = list(dict.fromkeys(who))
        found = await asyncio.gather(*(self._personal(user, context) for user, context in distinct))
        by_who = dict(zip(distinct, found))
        return [by_who[w] for w in who]

    async def _personal(self, user_id: str | None, context: str | None) -> Personal:
        if user_id is None:
            return Personal(None, context, "prior")
        self.active.touch(user_id)
        try:
            state = (await self.history.snapshot(user_id)).state
        except StoreUnavailable:
            metrics.DEGRADED.labels("redis_unavailable").inc()
            return Personal(None, context, "prior_degraded")
        if state is None:
            return Personal(None, context, "prior")
        offset = torch.tensor(state.offset, dtype=torch.float32)
        return Personal(offset, context if context is not None else state.context, "user")
