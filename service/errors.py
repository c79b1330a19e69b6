"""Domain errors and their one mapping to HTTP: RFC 9457 problem+json bodies.

Service code raises :class:`ServiceError` subclasses; :func:`install_error_handlers` turns
them (and FastAPI's validation errors, and unknown routes) into problem responses. The
request id is added to every body here and to every header by the middleware.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.logs import request_id_var

log = logging.getLogger("service.errors")
PROBLEM_TYPE = "application/problem+json"


class ServiceError(Exception):
    status: int = 500
    title: str = "Internal error"
    retry_after_s: int | None = None

    def __init__(self, detail: str, *, retry_after_s: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if retry_after_s is not None:
            self.retry_after_s = retry_after_s


class Unauthorized(ServiceError):
    status, title = 401, "Missing or unknown API key"


class Forbidden(ServiceError):
    status, title = 403, "API key lacks the scope"


class PayloadTooLarge(ServiceError):
    status, title = 413, "Request over the size limits"


class UserNotFound(ServiceError):
    status, title = 404, "Unknown user"


class QueueFull(ServiceError):
    status, title = 429, "Server busy: inference queue full"


class StoreUnavailable(ServiceError):
    status, title = 503, "User state store (Redis) unavailable"


class NotReady(ServiceError):
    status, title = 503, "Model not loaded yet"


class InferenceFailed(ServiceError):
    status, title = 500, "Inference failed"


class RequestTimedOut(ServiceError):
    status, title = 504, "Request took too long"


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    retry_after_s: int | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if errors is not None:
        body["errors"] = errors
    body["request_id"] = request_id_var.get()
    headers = dict(headers or {})
    if retry_after_s is not None:
        headers["Retry-After"] = str(retry_after_s)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_TYPE, headers=headers)


def validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Pydantic errors -> [{field: "body.responses.0", message, type}] (no input values echoed)."""
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        out.append({"field": ".".join(loc), "message": err.get("msg", ""), "type": err.get("type", "")})
    return out


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service_error(_: Request, exc: ServiceError) -> JSONResponse:
        if exc.status >= 500:
            log.warning("request failed: %s", exc.detail, extra={"status": exc.status})
        headers = {"WWW-Authenticate": 'Bearer realm="micro"'} if exc.status == 401 else None
        return problem_response(exc.status, exc.title, exc.detail, retry_after_s=exc.retry_after_s, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = validation_errors(exc)
        fields = ", ".join(e["field"] for e in errors[:5])
        return problem_response(422, "Invalid request", f"invalid fields: {fields}", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = HTTPStatus(exc.status_code).phrase if exc.status_code in HTTPStatus._value2member_map_ else "Error"
        return problem_response(exc.status_code, title, str(exc.detail), retry_after_s=None)
