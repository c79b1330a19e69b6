"""Where the service is, how to authenticate, how long to wait and how often to retry."""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_URL = "http://127.0.0.1:8000"
URL_ENV, KEY_ENV = "MICRO_URL", "MICRO_API_KEY"


@dataclass(frozen=True)
class ClientConfig:
    base_url: str = DEFAULT_URL
    api_key: str | None = None  # sent as "Authorization: Bearer <key>" (service/api/auth.py)
    timeout_s: float = 60.0  # per attempt: connect, read, write and pool
    max_retries: int = 5  # extra attempts after a 429/503 or a transport error
    backoff_s: float = 0.25  # first delay without Retry-After; doubles per attempt, with jitter
    max_backoff_s: float = 30.0  # cap on any one delay, Retry-After included

    @classmethod
    def resolve(cls, base_url: str | None = None, api_key: str | None = None, **overrides: float) -> ClientConfig:
        """Arguments first, then MICRO_URL / MICRO_API_KEY, then the defaults."""
        url = base_url or os.environ.get(URL_ENV) or DEFAULT_URL
        key = api_key if api_key is not None else (os.environ.get(KEY_ENV) or None)
        return cls(base_url=url.rstrip("/"), api_key=key, **overrides)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
