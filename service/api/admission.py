"""Admission before work: a request's cost is estimated from its declared byte length
(Content-Length) before any byte of the body is read, parsed or tokenized; when the requests
already admitted and not yet answered are estimated at more than the budget, the new one is
answered 429 with Retry-After at once. Overload then costs one header read per refused request,
not a JSON parse and a tokenization that the queue would refuse afterwards.

Estimate: bytes / ``bytes_per_token`` (English text: ~4 bytes a token), capped at ``cap_tokens``
(what one request can at most put in front of the model: its texts are truncated to the window).
A request without Content-Length counts the cap. The first request is always admitted (an idle
server refuses nothing). Routes without a body (GET, DELETE, /health/*, /metrics) are never
counted nor refused: liveness and metrics never wait on the model.
"""

from __future__ import annotations

import math

from starlette.types import ASGIApp, Receive, Scope, Send

from service.core import metrics
from service.core.errors import QueueFull, problem_response, request_id_of

COUNTED_METHODS = ("POST", "PUT", "PATCH")


def estimated_tokens(content_length: int | None, bytes_per_token: float, cap_tokens: int) -> int:
    """A request's estimated backbone tokens from its body size (None: unknown -> the cap)."""
    if content_length is None:
        return cap_tokens
    return max(1, min(cap_tokens, math.ceil(content_length / bytes_per_token)))


def content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return max(0, int(value))
            except ValueError:
                return None
    return None


class Admission:
    """Pure-ASGI middleware holding the admitted requests' estimated tokens (event-loop only)."""

    def __init__(self, app: ASGIApp, *, budget_tokens: int, bytes_per_token: float, cap_tokens: int,
                 retry_after_s: int) -> None:
        self.app, self.budget_tokens, self.bytes_per_token = app, budget_tokens, bytes_per_token
        self.cap_tokens, self.retry_after_s = cap_tokens, retry_after_s
        self.admitted = 0  # estimated tokens of the requests admitted and not yet answered

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in COUNTED_METHODS:
            await self.app(scope, receive, send)
            return
        cost = estimated_tokens(content_length(scope), self.bytes_per_token, self.cap_tokens)
        if self.admitted and self.admitted + cost > self.budget_tokens:
            metrics.ADMISSION_REJECTED.inc()
            error = QueueFull(f"the server holds ~{self.admitted} tokens of work (budget {self.budget_tokens}); "
                              "retry later", retry_after_s=self.retry_after_s)
            await problem_response(error, request_id_of(scope))(scope, receive, send)
            return
        self._add(cost)
        try:
            await self.app(scope, receive, send)
        finally:
            self._add(-cost)

    def _add(self, tokens: int) -> None:
        self.admitted += tokens
        metrics.ADMITTED_COST.set(self.admitted)
