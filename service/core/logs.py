"""JSON-lines logging with the request id of the request being served.

Texts (prompts, responses, contexts) are only ever logged at DEBUG. Secrets never: every line
(ours, uvicorn's, tracebacks) and every start-up error passes through :func:`redact`.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from contextvars import ContextVar
from typing import Any

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
# the tenant of the request's API key (None with auth off), set by the middleware before the body is read: it
# scopes the embedding cache (service/inference/embedder.py: one tenant cannot time another's texts) and the batcher's share
tenant_var: ContextVar[str | None] = ContextVar("tenant", default=None)

REDACTED = "<redacted>"
SECRETS = (
    # the API key of /k/<key>/get_reward (MICRO_URL_KEYS=true), wherever a path reaches a log line
    (re.compile(r"/k/[^/\s\"'?#]+/"), f"/k/{REDACTED}/"),
    # a password in a URL's userinfo: redis://user:pass@host, rediss://:pass@host
    (re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@\"']*:)[^@\s\"']*@"), rf"\1{REDACTED}@"),
    # ... or a userinfo without a colon (redis://secret@host: a password by mistake or a token)
    (re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s:@\"']+@"), rf"\1{REDACTED}@"),
    # ... or in its query string: ?password=..., &password=...
    (re.compile(r"([?&;]password=)[^&\s\"'#]*", re.IGNORECASE), rf"\1{REDACTED}"),
    # an API key in a header that reached a message
    (re.compile(r"(\bBearer\s+)[^\s\"',]+", re.IGNORECASE), rf"\1{REDACTED}"),
)

# LogRecord attributes that are not "extra" fields
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message", "asctime", "taskName", "color_message"  # uvicorn's ANSI copy of msg
}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(record.created, 3),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + "Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = request_id_var.get()
        if rid:
            out["request_id"] = rid
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(out, default=str, ensure_ascii=False))


def redact(text: str) -> str:
    """``text`` with every secret we know the shape of replaced by <redacted>: keys in URLs, URL
    passwords (userinfo or ``password=``), bearer keys. The one redaction of logs and start-up errors."""
    for pattern, replacement in SECRETS:
        text = pattern.sub(replacement, text)
    return text


def log_config(level: str) -> dict[str, Any]:
    """dictConfig for the root, ``service`` and uvicorn loggers: one JSON line per record on stderr."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    server_level = level if level in ("WARNING", "ERROR") else "INFO"  # uvicorn's DEBUG is noise
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"default": handler},
        "root": {"handlers": ["default"], "level": "WARNING"},
        "loggers": {
            "service": {"level": level, "propagate": True},
            "uvicorn": {"level": server_level, "propagate": True},
            "uvicorn.error": {"level": server_level, "propagate": True},
            "uvicorn.access": {"level": "WARNING", "propagate": True},  # the middleware logs requests
        },
    }


def setup_logging(level: str) -> None:
    import logging.config

    logging.config.dictConfig(log_config(level))
    logging.captureWarnings(True)
    sys.excepthook = lambda *exc: logging.getLogger("service").critical("uncaught", exc_info=exc)
