"""The end of a graceful shutdown: SIGTERM marks the app draining (service/__main__.py: readiness
503, then the listener closes); requests in flight get MICRO_SHUTDOWN_GRACE_S from the signal to
finish. When that runs out, every request not yet answering is cancelled (its texts leave the
batch queue; a feedback is stored or not, never half) and answered 503 problem+json with
Retry-After, as is any request arriving later, so clients retry on another pod and the process
exits 0 before Kubernetes' SIGKILL."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.core import metrics
from service.core.errors import ShuttingDown, feedback_ids_of, problem_response, request_id_of

log = logging.getLogger("service.api.shutdown")
POLL_S = 0.05  # how often the draining flag is looked at (the signal handler only sets a flag)


class GracePeriod:
    """Requests in flight, and whether the grace period after the exit signal has run out."""

    def __init__(self, grace_s: float, retry_after_s: int) -> None:
        self.grace_s, self.retry_after_s = grace_s, retry_after_s
        self.expired = False
        self.in_flight: dict[asyncio.Task, dict] = {}  # request task -> {"started": response begun}

    @contextlib.asynccontextmanager
    async def watching(self, draining: Callable[[], bool]) -> AsyncIterator[None]:
        """While the app runs: once ``draining()`` turns true, wait the grace period, then expire."""
        watcher = asyncio.get_running_loop().create_task(self._watch(draining), name="shutdown-grace")
        try:
            yield
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)

    async def _watch(self, draining: Callable[[], bool]) -> None:
        while not draining():
            await asyncio.sleep(POLL_S)
        start = time.monotonic()
        log.info("exit signal: requests in flight have %.1f s to finish", self.grace_s)
        await asyncio.sleep(self.grace_s)
        self.expire(time.monotonic() - start)

    def expire(self, waited_s: float = 0.0) -> None:
        """Cancel every request not yet answering; later ones are refused at once."""
        self.expired = True
        pending = [task for task, state in self.in_flight.items() if not state["started"]]
        if pending:
            log.warning("shutdown grace period over after %.1f s: %d requests answered 503", waited_s, len(pending))
        for task in pending:
            task.cancel()

    def refusal(self) -> ShuttingDown:
        return ShuttingDown("the server is shutting down; retry (another instance will answer)",
                            retry_after_s=self.retry_after_s)


class GraceMiddleware:
    """Pure ASGI: runs each request in a child task the grace period can cancel, and answers 503 then."""

    def __init__(self, app: ASGIApp, grace: GracePeriod) -> None:
        self.app, self.grace = app, grace

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.grace.expired:
            await self._refuse(scope, receive, send)
            return
        state = {"started": False}

        async def tracking_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        task = asyncio.ensure_future(self.app(scope, receive, tracking_send))
        self.grace.in_flight[task] = state
        try:
            await task  # cancelling this request (client gone, deadline) cancels the child too
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not self.grace.expired or state["started"] or (current is not None and current.cancelling()):
                raise
            await self._refuse(scope, receive, send)
        finally:
            self.grace.in_flight.pop(task, None)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        metrics.SHUTDOWN_REJECTED.inc()
        await problem_response(self.grace.refusal(), request_id_of(scope), feedback_ids_of(scope))(scope, receive, send)
