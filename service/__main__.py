"""``python -m service``: serve the API with uvicorn, configured by MICRO_* environment variables.

SIGTERM / SIGINT: readiness turns false at once (``/health/ready`` answers 503), the listener
closes after ``MICRO_SHUTDOWN_DELAY_S``, requests in flight are drained until
``MICRO_SHUTDOWN_GRACE_S`` after the signal (the rest are answered 503 with Retry-After,
service/api/shutdown.py), then the lifespan closes the batcher and Redis and the process exits 0."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType

import uvicorn
from fastapi import FastAPI
from pydantic import ValidationError

from service.core.config import Settings
from service.core.logs import log_config, redact, setup_logging

log = logging.getLogger("service.main")
GRACEFUL_SHUTDOWN_S = 5  # beyond the app's grace period: time for its 503s to be sent before uvicorn cancels


class DrainingServer(uvicorn.Server):
    """uvicorn, but the first exit signal only marks the app as draining (not ready) and
    starts the real shutdown ``delay_s`` later; a second signal exits at once as usual."""

    def __init__(self, config: uvicorn.Config, app: FastAPI, delay_s: float) -> None:
        super().__init__(config)
        self.fastapi_app, self.delay_s = app, delay_s

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        state = self.fastapi_app.state
        if state.draining or self.delay_s <= 0:
            state.draining = True
            super().handle_exit(sig, frame)
            return
        state.draining = True
        log.info("exit signal: not ready; closing the listener in %.1f s", self.delay_s)
        timer = threading.Timer(self.delay_s, super().handle_exit, (sig, frame))
        timer.daemon = True
        timer.start()


def settings_errors(exc: ValidationError) -> str:
    """One line per bad setting: its variable and what is wrong, never the value given (it may be a
    secret: a Redis URL with its password, keys), and redacted all the same."""
    lines = (f"  MICRO_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors(include_input=False))
    return redact("\n".join(lines))


def main() -> int:
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"invalid MICRO_* settings:\n{settings_errors(exc)}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level)
    from service.app import create_app
    from service.api.head_guard import guarded_http
    from service.api.auth import AuthConfigError

    try:
        app = create_app(settings)
    except AuthConfigError as exc:
        print(redact(f"cannot start: {exc}"), file=sys.stderr)
        return 2
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=log_config(settings.log_level),
        access_log=False,  # the middleware logs each request with its id
        lifespan="on",
        http=guarded_http(settings.max_header_bytes, settings.header_timeout_s),  # 431, half-sent heads closed
        # the app answers what is left 503 at MICRO_SHUTDOWN_GRACE_S after the signal (service/api/shutdown.py);
        # uvicorn's own limit, counted from the listener's close, only backs that up
        timeout_graceful_shutdown=max(settings.shutdown_grace_s - settings.shutdown_delay_s, 0) + GRACEFUL_SHUTDOWN_S,
    )
    server = DrainingServer(config, app, settings.shutdown_delay_s)
    signal.signal(signal.SIGTERM, lambda *_: None)  # uvicorn re-raises SIGTERM after a graceful shutdown: exit 0
    server.run()
    return 0 if server.started else 3


if __name__ == "__main__":
    sys.exit(main())
