"""Users survive a model upgrade: each applied label's texts are kept outside the model-versioned
state (``<prefix>:users:{<user>}:history``, the last MICRO_HISTORY_MAX labels, written by the
feedback script in the same atomic step), with the stated context (``...:context``). A user with
no state under the running model version but a kept history or context is rebuilt on first use:
the kept labels are embedded in one call and replayed, in order, through the new heads in one
script run (service/state/update_script.py, replay mode), the kept context becoming the new state's.
``python -m service.ops.migrate_users`` does the same ahead of traffic.

The kept items hold the texts (prompt or chat messages, chosen, rejected, a per-label context):
they are personal data, erased by DELETE /v1/users/{id} and expiring with MICRO_USER_TTL_S.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from model.routing import RoutingConfig
from service.core import metrics
from service.inference.preference_label import Label

if TYPE_CHECKING:  # annotations only: not imported at run time
    from service.inference.label_terms import LabelTermsMaker
    from service.state.records import Snapshot
    from service.state.user_store import UserStore

log = logging.getLogger("service.inference.user_history")


class UserHistory:
    """Reads a user, rebuilding the state from the kept history first when the model changed."""

    def __init__(self, store: UserStore, terms: LabelTermsMaker, routing: RoutingConfig) -> None:
        self.store, self.terms, self.routing = store, terms, routing
        self._running: dict[str, asyncio.Future[int]] = {}  # user -> rebuild in progress (one per user)

    async def snapshot(self, user_id: str, feedback_ids: Sequence[str] = ()) -> Snapshot:
        """:meth:`UserStore.read`, after a rebuild when one is due (first use after an upgrade)."""
        snapshot = await self.store.read(user_id, feedback_ids)
        if not snapshot.rebuild:
            return snapshot
        await self.rebuild(user_id)
        return await self.store.read(user_id, feedback_ids)

    async def rebuild(self, user_id: str) -> int:
        """Replay the user's kept labels through this model (concurrent callers share one run);
        returns the number of labels replayed."""
        while (running := self._running.get(user_id)) is not None:
            try:
                return await asyncio.shield(running)
            except asyncio.CancelledError:
                if not running.cancelled():
                    raise  # this caller was cancelled
                # the run's own caller left: run it again here
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._running[user_id] = future
        try:
            replayed = await self._replay(user_id)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            metrics.USERS_REBUILT.labels("failed").inc()
            future.set_exception(exc)
            future.exception()  # marked retrieved: the waiters re-raise it, nobody else must
            raise
        finally:
            del self._running[user_id]
        metrics.USERS_REBUILT.labels("rebuilt").inc()
        future.set_result(replayed)
        return replayed

    async def _replay(self, user_id: str) -> int:
        items, context = await self.store.kept(user_id)
        labels = [label for label in map(Label.from_history, items) if label is not None]
        if len(labels) < len(items):
            log.warning("%d kept history items do not parse; skipped", len(items) - len(labels))
        ids = [label.feedback_id or "" for label in labels]
        terms = await self.terms.terms(labels, await self.terms.prepare(labels), ids, context) if labels else []
        await self.store.apply_labels(user_id, terms, self.routing, replay=True)
        log.info("user state rebuilt from history", extra={"labels": len(labels)})
        return len(labels)

