"""Admission before work: a request's cost is estimated from its declared byte length
(Content-Length) before any byte of the body is read, parsed or tokenized; when the work already
charged and not yet answered plus the new request's estimate is over the budget, the new one is
answered 429 with Retry-After at once. Overload then costs one header read per refused request,
not a JSON parse and a tokenization that the queue would refuse afterwards.

Charged: what has arrived. An admitted request is charged for its body as its bytes come in (up to
its estimate), not for what it declares: a client that declares a large body and sends nothing (or
sends it slowly) holds no budget from anyone (the body-read deadline, MICRO_BODY_TIMEOUT_S, ends it:
service/api/middleware.py).

Shared: with auth on, one tenant's admitted requests may declare at most ``tenant_share`` of the
budget in all (its first request is always admitted; declared, not charged, so that requests sent
together count before their bodies arrive): one tenant's giant requests cannot take every slot,
other tenants' small requests still fit beside them. With auth off there is one namespace and no share.

Estimate: bytes / ``bytes_per_token`` (English text: ~4 bytes a token), capped at ``cap_tokens``
(what one request can at most put in front of the model: its texts are truncated to the window).
A request without Content-Length counts the cap. The first request is always admitted (an idle
server refuses nothing). Routes without a body (GET, DELETE, /health/*, /metrics) are never
counted nor refused: liveness and metrics never wait on the model.
"""

from __future__ import annotations

import math
from collections import Counter

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.core import metrics
from service.core.errors import QueueFull, feedback_ids_of, problem_response, request_id_of
from service.core.logs import tenant_var

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
    """Pure-ASGI middleware holding the admitted requests' charged tokens (event-loop only)."""

    def __init__(self, app: ASGIApp, *, budget_tokens: int, bytes_per_token: float, cap_tokens: int,
                 retry_after_s: int, tenant_share: float = 1.0) -> None:
        self.app, self.budget_tokens, self.bytes_per_token = app, budget_tokens, bytes_per_token
        self.cap_tokens, self.retry_after_s, self.tenant_share = cap_tokens, retry_after_s, tenant_share
        self.admitted = 0  # tokens charged to the requests admitted and not yet answered
        self.declared: Counter[str] = Counter()  # per tenant (auth on): its admitted requests' estimates

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in COUNTED_METHODS:
            await self.app(scope, receive, send)
            return
        estimate = estimated_tokens(content_length(scope), self.bytes_per_token, self.cap_tokens)
        tenant = tenant_var.get()
        refusal = self._refusal(tenant, estimate)
        if refusal is not None:
            metrics.ADMISSION_REJECTED.inc()
            error = QueueFull(refusal, retry_after_s=self.retry_after_s)
            await problem_response(error, request_id_of(scope), feedback_ids_of(scope))(scope, receive, send)
            return
        charged, received = 0, 0
        self._declare(tenant, estimate)

        async def charging_receive() -> Message:
            nonlocal charged, received
            message = await receive()
            if message["type"] == "http.request" and message.get("body"):
                received += len(message["body"])
                now = min(estimate, estimated_tokens(received, self.bytes_per_token, self.cap_tokens))
                self._add(now - charged)
                charged = now
            return message

        try:
            await self.app(scope, charging_receive, send)
        finally:
            self._add(-charged)
            self._declare(tenant, -estimate)

    def _refusal(self, tenant: str | None, estimate: int) -> str | None:
        """Why a request of ``estimate`` tokens is refused now (None: admitted)."""
        if self.admitted and self.admitted + estimate > self.budget_tokens:
            return (f"the server holds ~{self.admitted} tokens of work (budget {self.budget_tokens}); "
                    "retry later")
        held = self.declared[tenant] if tenant is not None else 0
        share = int(self.budget_tokens * self.tenant_share)
        if held and held + estimate > share:
            return f"this API key's tenant has ~{held} tokens of work admitted (its share: {share}); retry later"
        return None

    def _add(self, tokens: int) -> None:
        self.admitted += tokens
        metrics.ADMITTED_COST.set(self.admitted)

    def _declare(self, tenant: str | None, tokens: int) -> None:
        if tenant is not None:
            self.declared[tenant] += tokens
            if self.declared[tenant] <= 0:
                del self.declared[tenant]
