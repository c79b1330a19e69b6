"""Domain errors and their one mapping to HTTP: RFC 9457 problem+json bodies.

Service code raises :class:`ServiceError` subclasses; :func:`problem_response` is the one
place a problem body is built, for those, for FastAPI's validation errors, for HTTP errors
(unknown routes) and for anything unexpected. :func:`install_error_handlers` routes the app's
exceptions to it; the middleware calls it for what escapes the app. The request id is added to
every body here (the middleware keeps it in the request's scope state) and to every header by
the middleware. No other service module is imported here: every layer may raise these.
"""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("service.core.errors")
PROBLEM_TYPE = "application/problem+json"
REQUEST_ID_KEY = "request_id"  # the key of scope["state"] that holds the request id
# the key of scope["state"] that holds a feedback request's ids (the client's, or the service's for labels sent
# without one): a 5xx's body gives them back, so that a retry with them applies each label at most once
FEEDBACK_IDS_KEY = "feedback_ids"
INTERNAL_DETAIL = "internal error; see the server log"  # what a client learns of an unexpected error


class ServiceError(Exception):
    """A failure the client is told about: its HTTP status, a fixed title and a detail."""

    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"
    headers: ClassVar[dict[str, str]] = {}
    retry_after_s: int | None = None

    def __init_subclass__(cls, *, status: int, title: str, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.status, cls.title = status, title

    def __init__(self, detail: str, *, retry_after_s: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if retry_after_s is not None:
            self.retry_after_s = retry_after_s


class Unauthorized(ServiceError, status=401, title="Missing or unknown API key"):
    """No bearer key, or one the service does not know."""

    headers: ClassVar[dict[str, str]] = {"WWW-Authenticate": 'Bearer realm="micro"'}


class Forbidden(ServiceError, status=403, title="API key lacks the scope"):
    """A known key without the scope (read / write) the route needs."""


class PayloadTooLarge(ServiceError, status=413, title="Request over the size limits"):
    """A body, a count or a text over the limits of the settings."""


class UserNotFound(ServiceError, status=404, title="Unknown user"):
    """No state is stored for the user."""


class ContextConflict(ServiceError, status=409, title="The user's context kept changing during the feedback"):
    """A feedback raced context changes more often than the engine retries."""


class QuotaExceeded(ServiceError, status=403, title="Tenant storage quota exceeded"):
    """The tenant's users hold MICRO_TENANT_MAX_BYTES already: a write that adds bytes is refused (not retried)."""


class FeedbackIdReused(ServiceError, status=409, title="feedback_id reused with another label"):
    """A feedback_id already applied (or twice in one batch) with another prompt, responses or context."""


def reused_id_detail(feedback_id: str) -> str:
    """The 409's detail: the id is the client's own (checked against the id pattern), no text of the label."""
    return (f"feedback_id {feedback_id!r} was applied with another label; nothing was applied. Reuse an id only to "
            "retry the same label")


class QueueFull(ServiceError, status=429, title="Server busy: inference queue full"):
    """More texts wait for the model than the queue holds."""


class InferenceFailed(ServiceError, status=500, title="Inference failed"):
    """The backbone's forward raised or returned the wrong number of rows."""


class StoreUnavailable(ServiceError, status=503, title="User state store (Redis) unavailable"):
    """Redis does not answer (or refused the operation)."""


class NotReady(ServiceError, status=503, title="Model not loaded yet"):
    """The model is loading, or the server is shutting down."""


class ShuttingDown(ServiceError, status=503, title="Server shutting down"):
    """The shutdown grace period (MICRO_SHUTDOWN_GRACE_S) ran out before this request was answered."""


class RequestTimedOut(ServiceError, status=504, title="Request took too long"):
    """No answer within the request deadline."""


def store_error_summary(exc: BaseException) -> str:
    """What a log line above DEBUG or an error body may say of a Redis client error: its class and, for an
    error reply, Redis's code (OOM, READONLY, BUSY...), never its message: redis-py quotes a failed pipeline
    command whole ("Command # 1 (HSET <key> context <the user's words>) of pipeline caused error: ...")."""
    reply = str(exc).rsplit("caused error: ", 1)[-1]
    code = reply.split(" ", 1)[0]
    return f"{type(exc).__name__} {code}" if re.fullmatch(r"[A-Z]{2,16}", code) else type(exc).__name__


def request_id_of(scope: Any) -> str | None:
    """The request id the middleware keeps in the ASGI scope's state (None outside a request)."""
    state = scope.get("state") if isinstance(scope, dict) else None
    return state.get(REQUEST_ID_KEY) if isinstance(state, dict) else None


def feedback_ids_of(scope: Any) -> list[str] | None:
    """The ids of the labels a feedback request is applying (None outside one)."""
    state = scope.get("state") if isinstance(scope, dict) else None
    return state.get(FEEDBACK_IDS_KEY) if isinstance(state, dict) else None


def problem_response(exc: Exception, request_id: str | None = None, feedback_ids: list[str] | None = None
                     ) -> JSONResponse:
    """Any exception -> its problem+json response (an unexpected one -> 500 without internals).
    ``feedback_ids``: a feedback request's ids; a 5xx gives them back (its labels may have been applied:
    retried with these ids, each applies at most once)."""
    errors: list[dict[str, Any]] | None = None
    headers: dict[str, str] = {}
    if isinstance(exc, ServiceError):
        status, title, detail = exc.status, exc.title, exc.detail
        headers.update(exc.headers)
        if exc.retry_after_s is not None:
            headers["Retry-After"] = str(exc.retry_after_s)
    elif isinstance(exc, RequestValidationError):
        errors = validation_errors(exc)
        status, title = 422, "Invalid request"
        detail = f"invalid fields: {', '.join(e['field'] for e in errors[:5])}"
    elif isinstance(exc, StarletteHTTPException):
        status, detail = exc.status_code, str(exc.detail)
        headers.update(exc.headers or {})
        title = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    else:
        status, title, detail = ServiceError.status, ServiceError.title, INTERNAL_DETAIL
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if errors is not None:
        body["errors"] = errors
    if feedback_ids is not None and status >= 500:
        body["feedback_ids"] = feedback_ids
        body["detail"] = f"{detail} (retry with these feedback_ids: each label applies at most once)"
    body["request_id"] = request_id
    return JSONResponse(body, status_code=status, media_type=PROBLEM_TYPE, headers=headers)


def validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Pydantic errors -> [{field: "body.responses.0", message, type}] (no input values echoed)."""
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        out.append({"field": ".".join(loc), "message": err.get("msg", ""), "type": err.get("type", "")})
    return out


async def _handle(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, ServiceError) and exc.status >= 500:
        log.warning("request failed: %s", exc.detail, extra={"status": exc.status})
    return problem_response(exc, request_id_of(request.scope), feedback_ids_of(request.scope))


def install_error_handlers(app: FastAPI) -> None:
    for kind in (ServiceError, RequestValidationError, StarletteHTTPException):
        app.add_exception_handler(kind, _handle)
