"""The OpenAPI document's error contract: every error is problem+json (service/core/errors.py).

Routes declare the errors they really answer with ``responses=errors(401, 404, ...)``: each
status gets the ``Problem`` schema under ``application/problem+json``, an example built from the
error class that raises it (same title and status as the live body) and its headers
(``Retry-After``, ``WWW-Authenticate``). :func:`install_openapi` registers the schemas in the
document's components and replaces any 422 that FastAPI would still describe with its own
``HTTPValidationError`` shape (a route that forgot to declare it) by the service's problem.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field

from service.core import errors as e

REF = "#/components/schemas/{model}"
EXAMPLE_REQUEST_ID = "3f2b9c4e8a1d4f0e9b6c2a7d5e8f1a0b"


class FieldError(BaseModel):
    """One invalid field of a 422: where, what is wrong, pydantic's error type."""

    field: str = Field(description="Dotted location, e.g. body.responses.0")
    message: str
    type: str


class Problem(BaseModel):
    """RFC 9457 problem details, as every error of the service is answered."""

    type: str = Field("about:blank", description="Always about:blank: the status and title say what happened")
    title: str = Field(description="Fixed per kind of error, e.g. 'Unknown user'")
    status: int = Field(description="The HTTP status, repeated")
    detail: str = Field(description="What went wrong in this request, for a person")
    errors: list[FieldError] | None = Field(None, description="422 only: every invalid field")
    request_id: str = Field(description="Also in the X-Request-ID header; quote it when reporting a problem")


RETRY_AFTER = {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}
WWW_AUTHENTICATE = {"description": "Bearer realm", "schema": {"type": "string"}}

# status -> the error kinds that answer it: (class, an example detail as the service words it); 422 below
KINDS: dict[int, list[tuple[type[e.ServiceError], str]]] = {
    401: [(e.Unauthorized, "missing API key: send Authorization: Bearer <key>")],
    403: [(e.Forbidden, "this API key lacks the 'write' scope")],
    404: [(e.UserNotFound, "no state stored for user alice")],
    409: [(e.ContextConflict, "the context of user alice changed during the update; retry")],
    413: [(e.PayloadTooLarge, "responses has 65 items; the limit is 64")],
    429: [(e.QueueFull, "1020 texts are waiting for the model (limit 1024); retry later")],
    500: [(e.InferenceFailed, "forward failed: CUDA out of memory")],
    503: [
        (e.NotReady, "the model is still loading; retry shortly"),
        (e.StoreUnavailable, "Redis is unreachable (ConnectionError); retry later"),
    ],
    504: [(e.RequestTimedOut, "no answer within 30.0 s")],
}
HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": WWW_AUTHENTICATE},
    429: {"Retry-After": RETRY_AFTER},
    503: {"Retry-After": RETRY_AFTER},
}
DESCRIPTIONS = {
    401: "No API key, or an unknown one (only with MICRO_AUTH=on)",
    403: "The API key lacks the scope this route needs (read or write)",
    404: "No state is stored for this user",
    409: "The user's context kept changing while the feedback was applied; retry",
    413: "The body, a count or a text is over the size limits (see GET /v1/model, limits)",
    422: "Invalid request: the errors list names every invalid field",
    429: "The inference queue is full; retry after Retry-After seconds",
    500: "Unexpected failure (the detail hides internals; the request id finds it in the log)",
    503: "The model is loading or shutting down, or Redis is unavailable where it is needed",
    504: "No answer within the request deadline (MICRO_REQUEST_TIMEOUT_S)",
}


def problem_example(status: int, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return body | {"request_id": EXAMPLE_REQUEST_ID}


def examples(status: int) -> dict[str, dict[str, Any]]:
    """OpenAPI examples for ``status``, named by the error class (422: the validation problem)."""
    if status == 422:
        field = {"field": "body.responses", "message": "Field required", "type": "missing"}
        body = problem_example(422, "Invalid request", "invalid fields: body.responses", errors=[field])
        return {"invalid_fields": {"summary": "Invalid request", "value": body}}
    return {
        kind.__name__: {"summary": kind.title, "value": problem_example(kind.status, kind.title, detail)}
        for kind, detail in KINDS[status]
    }


def error_response(status: int) -> dict[str, Any]:
    """One entry of a route's ``responses``: description, problem+json schema, examples, headers."""
    response: dict[str, Any] = {
        "description": DESCRIPTIONS[status],
        "content": {e.PROBLEM_TYPE: {"schema": {"$ref": REF.format(model="Problem")}, "examples": examples(status)}},
    }
    if status in HEADERS:
        response["headers"] = HEADERS[status]
    return response


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: its error statuses, each a problem+json response."""
    return {status: error_response(status) for status in statuses}


def problem_schemas() -> dict[str, Any]:
    """The components/schemas entries for Problem and FieldError."""
    schema = Problem.model_json_schema(ref_template=REF)
    defs = schema.pop("$defs", {})
    return {"Problem": schema, **defs}


def with_problem_contract(spec: dict[str, Any]) -> dict[str, Any]:
    """Register the problem schemas; any FastAPI default 422 becomes the service's problem."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(problem_schemas())
    for path in spec.get("paths", {}).values():
        for operation in path.values():
            responses = operation.get("responses", {})
            if "application/json" in responses.get("422", {}).get("content", {}):
                responses["422"] = error_response(422)
    for default_shape in ("HTTPValidationError", "ValidationError"):
        schemas.pop(default_shape, None)
    return spec


def install_openapi(app: FastAPI) -> None:
    """Serve the OpenAPI document with the problem contract (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
                servers=app.servers,
            )
            app.openapi_schema = with_problem_contract(spec)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
