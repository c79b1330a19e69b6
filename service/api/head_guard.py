"""Request heads (request line + headers) bounded in the HTTP server itself, before any ASGI code runs:
uvicorn's httptools protocol (what ``http="auto"`` picks) has neither a size limit nor a read timeout
for a request's head (llhttp buffers a header of any size; its keep-alive timeout only starts after
a response). :func:`guarded_http` returns it with both:

- a head over ``max_bytes`` is answered 431 and the connection closed, as soon as its bytes arrive
  (counted before parsing, so a connection never holds more than ``max_bytes`` of head);
- a head not complete ``timeout_s`` after the connection opened (or after the previous response on a
  kept-alive connection) closes the connection: half-sent heads cannot hold sockets and memory.

``python -m service`` passes it to uvicorn as its ``http`` protocol (MICRO_MAX_HEADER_BYTES,
MICRO_HEADER_TIMEOUT_S; docs/security.md).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEAD_END = b"\r\n\r\n"


def too_large_response(max_bytes: int) -> bytes:
    body = json.dumps({"type": "about:blank", "title": "Request Header Fields Too Large", "status": 431,
                       "detail": f"the request line and headers are over {max_bytes} bytes"}).encode()
    return (b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/problem+json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body)


class GuardedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with a head size limit and a head read timeout (class attributes,
    set by :func:`guarded_http`)."""

    max_head_bytes = 64 * 1024
    head_timeout_s = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0  # bytes of the head being read (0 between requests)
        self._head_open = True  # a head is awaited or being read
        self._tail = b""  # the last bytes seen, to find a head end split across reads
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._head_open and self._over_limit(data):
            self._disarm()
            if self.cycle is None or self.cycle.response_complete:  # never a raw 431 inside another response
                self.transport.write(too_large_response(self.max_head_bytes))
            self.transport.close()
            return
        super().data_received(data)

    def _over_limit(self, data: bytes) -> bool:
        """Counts ``data`` into the head being read; True once the head is over the limit."""
        seen = self._tail + data
        end = seen.find(HEAD_END)
        if end >= 0:  # the head ends here: only its bytes count
            size = self._head_bytes + end - len(self._tail) + len(HEAD_END)
            self._head_bytes, self._tail = 0, b""
            return size > self.max_head_bytes
        self._head_bytes += len(data)
        self._tail = seen[-(len(HEAD_END) - 1):]
        return self._head_bytes > self.max_head_bytes

    def on_headers_complete(self) -> None:
        self._head_open, self._head_bytes, self._tail = False, 0, b""
        self._disarm()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        # what follows a request's body is the next head: counted from its first byte, also when it is
        # pipelined behind a response still being written (its deadline starts once that response ends)
        self._head_open, self._head_bytes, self._tail = True, 0, b""

    def on_response_complete(self) -> None:
        super().on_response_complete()
        idle = self.cycle is None or self.cycle.response_complete  # no pipelined request started meanwhile
        if idle and not self.transport.is_closing():  # kept alive: the next head has its own deadline
            self._head_open = True
            self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._head_open and not self.transport.is_closing():
            self.transport.close()


def guarded_http(max_bytes: int, timeout_s: float) -> type[GuardedHttpTools]:
    """The protocol class for uvicorn's ``http`` setting, with these limits."""
    return type("GuardedHttp", (GuardedHttpTools,), {"max_head_bytes": max_bytes, "head_timeout_s": timeout_s})
