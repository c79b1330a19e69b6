"""One pure-ASGI middleware for what every request needs:

- a request id (the client's ``X-Request-ID`` when sane, else a new one) in the logs, in
  problem bodies and in the ``X-Request-ID`` header of every response;
- with auth on, the API key of the routes that need one (``/v1/*``, ``/get_reward``: the
  ``Authorization`` header; ``/k/<key>/...``: the path) checked BEFORE any byte of the body is
  read, so an unauthenticated client costs no memory (401 / 403; the scope of the route is
  checked again by its dependency); the caller's tenant then scopes the embedding cache;
- the body-size limit (413: the declared Content-Length before reading, the streamed length
  while reading), the body-read deadline (408 and the connection closed: a body that does not
  arrive holds no task and no socket for long) and the request deadline (504); after a large
  body, freed memory is handed
  back to the OS (service/core/memory_trim.py);
- cancellation when the client disconnects after sending its body, so its texts are
  dropped from the batch queue instead of being embedded for nobody;
- request metrics and one JSON access-log line (route template, status, duration; no text).
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
import uuid

from fastapi import HTTPException
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.core import metrics
from service.api.auth import Caller, bearer_caller, url_key_check
from service.core.errors import (REQUEST_ID_KEY, PayloadTooLarge, RequestTimedOut, ServiceError, feedback_ids_of,
                                 problem_response)
from service.core.logs import request_id_var, tenant_var
from service.core.memory_trim import MemoryTrimmer
from service.core.ids import ID_PATTERN

log = logging.getLogger("service.access")
SAFE_REQUEST_ID = re.compile(ID_PATTERN)  # a client's X-Request-ID is kept when it is a sane id
CLIENT_CLOSED = 499  # nginx's code for "client closed the request", in metrics and logs only
HEADER_KEY_ROUTES = ("/v1/", "/get_reward")  # path prefixes of the routes with a Reader / Writer dependency
URL_KEY_ROUTES = "/k/"  # /k/<key>/get_reward (MICRO_URL_KEYS=true)


class RequestContext:
    """``api_keys``: the app's key table (None: auth off); ``url_keys``: /k/<key>/ routes exist;
    ``trim_after_bytes``: a body at least this large trims the heap once answered (0: never)."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, timeout_s: float, body_timeout_s: float | None = None,
                 api_keys: dict[str, Caller] | None = None, url_keys: bool = False, trim_after_bytes: int = 0) -> None:
        self.app, self.max_body_bytes, self.timeout_s = app, max_body_bytes, timeout_s
        self.body_timeout_s = body_timeout_s  # None: no body-read deadline but the request's
        self.api_keys, self.url_keys = api_keys, url_keys
        self.trim_after_bytes, self.trimmer = trim_after_bytes, MemoryTrimmer()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = incoming if SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token, tenant_token = request_id_var.set(rid), tenant_var.set(None)
        scope.setdefault("state", {})[REQUEST_ID_KEY] = rid  # what error bodies quote (service/core/errors.py)
        state = {"status": 500, "started": False, "complete": False, "body_bytes": 0}
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"], state["started"] = message["status"], True
                MutableHeaders(scope=message)["X-Request-ID"] = rid
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                state["complete"] = True
            await send(message)

        try:
            self._authenticate(scope)
            self._check_declared_size(scope)
            await self._run(scope, receive, send_with_id, state)
        except Exception as exc:
            if not isinstance(exc, ServiceError):
                log.exception("unhandled error")
            if not state["started"]:
                await problem_response(exc, rid, feedback_ids_of(scope))(scope, receive, send_with_id)
        finally:
            self._record(scope, state, time.perf_counter() - start)
            if self.trim_after_bytes and state["body_bytes"] >= self.trim_after_bytes:
                self.trimmer.request()
            tenant_var.reset(tenant_token)
            request_id_var.reset(token)

    def _authenticate(self, scope: Scope) -> None:
        """With auth on, a route that needs a key: 401 (403 for a URL key) unless it holds a known one,
        before the body is read; the caller's tenant goes to ``tenant_var``."""
        if self.api_keys is None:
            return
        path = route_path(scope)
        if path.startswith(HEADER_KEY_ROUTES):
            authorization = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
            caller = bearer_caller(self.api_keys, authorization or None)
        elif self.url_keys and path.startswith(URL_KEY_ROUTES):
            caller = url_key_check(self.api_keys, path[len(URL_KEY_ROUTES):].split("/", 1)[0])
        else:
            return
        tenant_var.set(caller.tenant)

    async def _run(self, scope: Scope, receive: Receive, send: Send, state: dict) -> None:
        """The app in a child task, cancelled when the client leaves or the deadline passes."""
        body_done = asyncio.Event()
        body_deadline = time.monotonic() + (self.body_timeout_s or math.inf)

        async def receive_body() -> Message:
            message = await self._within(receive, None if body_done.is_set() else body_deadline)
            if message["type"] == "http.request":
                state["body_bytes"] = received = state["body_bytes"] + len(message.get("body", b""))
                # chunked bodies: no content-length to check up front. An HTTPException, not a ServiceError:
                # FastAPI passes it through its body parsing (anything else there becomes a 400)
                if received > self.max_body_bytes:
                    raise HTTPException(413, f"request body over the limit of {self.max_body_bytes} bytes")
                if not message.get("more_body", False):
                    body_done.set()
            return message

        async def client_gone() -> None:
            await body_done.wait()
            while (await receive())["type"] != "http.disconnect":
                pass

        app_task = asyncio.ensure_future(self.app(scope, receive_body, send))
        watcher = asyncio.ensure_future(client_gone())
        try:
            done, _ = await asyncio.wait({app_task, watcher}, timeout=self.timeout_s,
                                         return_when=asyncio.FIRST_COMPLETED)
            if app_task in done or (watcher in done and state["complete"]):
                await app_task
                return
            app_task.cancel()
            await asyncio.gather(app_task, return_exceptions=True)
            if watcher in done:  # the client left: nobody to answer
                state["status"] = CLIENT_CLOSED
                log.info("client disconnected; request cancelled")
            elif not state["started"]:
                raise RequestTimedOut(f"no answer within {self.timeout_s} s")
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)

    async def _within(self, receive: Receive, deadline: float | None) -> Message:
        """The next message, or a 408 (closing the connection) when the body's deadline passes first."""
        if deadline is None or deadline == math.inf:
            return await receive()
        try:
            return await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            raise HTTPException(408, f"the request body did not arrive within {self.body_timeout_s} s",
                                headers={"Connection": "close"}) from None

    def _check_declared_size(self, scope: Scope) -> None:
        """PayloadTooLarge when the declared content-length is over the limit (before any read)."""
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    size = int(value)
                except ValueError:
                    return
                if size > self.max_body_bytes:
                    raise PayloadTooLarge(f"request body of {size} bytes is over the limit of {self.max_body_bytes}")

    @staticmethod
    def _record(scope: Scope, state: dict, seconds: float) -> None:
        route = scope.get("route")
        label = getattr(route, "path", None) or "unmatched"
        status = state["status"]
        metrics.REQUESTS.labels(label, str(status)).inc()
        metrics.REQUEST_DURATION.labels(label).observe(seconds)
        log.info(
            "request",
            extra={"method": scope["method"], "route": label, "status": status, "ms": round(seconds * 1000, 2)},
        )


def route_path(scope: Scope) -> str:
    """The path the routes match: without the app's mount point (root_path) behind a proxy."""
    path, root = scope["path"], scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root) else path
