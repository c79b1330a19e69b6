"""The one exception the client raises: a problem+json reply, or no reply at all."""

from __future__ import annotations

from typing import Any

import httpx


class MicroError(Exception):
    """An error answer of the service (RFC 9457 problem+json: ``status``, ``title``, ``detail``,
    the whole body in ``problem``), or ``status=None`` when no answer came (transport error
    after the retries; the httpx exception is ``__cause__``)."""

    def __init__(self, status: int | None, title: str, detail: str = "", problem: dict[str, Any] | None = None,
                 request_id: str | None = None) -> None:
        self.status, self.title, self.detail = status, title, detail
        self.problem = problem or {}
        self.request_id = request_id
        super().__init__(f"{status or 'no answer'} {title}: {detail}" if detail else f"{status or 'no answer'} {title}")

    @classmethod
    def from_response(cls, response: httpx.Response) -> MicroError:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            body = {"title": response.reason_phrase or "Error", "detail": response.text[:500]}
        return cls(
            status=response.status_code,
            title=str(body.get("title") or response.reason_phrase or "Error"),
            detail=str(body.get("detail") or ""),
            problem=body,
            request_id=response.headers.get("x-request-id") or body.get("request_id"),
        )

    @property
    def route_missing(self) -> bool:
        """True when the server has no such route (an endpoint it does not implement yet)."""
        return self.status == 405 or (self.status == 404 and self.title == "Not Found")
