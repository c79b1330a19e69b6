"""When to retry and how long to wait: 429 and 503 (honouring Retry-After) and transport errors,
exponential backoff with jitter otherwise. Shared by the sync and the async client."""

from __future__ import annotations

import random
import time
from email.utils import parsedate_to_datetime

import httpx

from micro_client.config import ClientConfig

RETRY_STATUSES = frozenset({429, 503})


def retry_after_s(response: httpx.Response) -> float | None:
    """The Retry-After header in seconds (delta-seconds or an HTTP date), None when absent or bad."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def delay_s(config: ClientConfig, attempt: int, response: httpx.Response | None) -> float:
    """The wait before retry number ``attempt`` (0-based): the server's Retry-After when it gave
    one, else backoff_s * 2**attempt with equal jitter (between half and all of it); both capped."""
    if response is not None:
        told = retry_after_s(response)
        if told is not None:
            return min(told, config.max_backoff_s)
    full = min(config.backoff_s * (2**attempt), config.max_backoff_s)
    return full / 2 + random.random() * full / 2


def should_retry(response: httpx.Response) -> bool:
    return response.status_code in RETRY_STATUSES
