"""Clients the reward functions share: one MicroClient per (URL, key) per process (httpx.Client
is thread-safe), one AsyncMicroClient per (URL, key) per event loop (an httpx.AsyncClient
belongs to the loop it was opened on)."""

from __future__ import annotations

import asyncio
import threading
import weakref

from micro_client.aio import AsyncMicroClient
from micro_client.config import ClientConfig
from micro_client.sync import MicroClient

_lock = threading.Lock()
_sync: dict[tuple[str, str | None], MicroClient] = {}
_async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, str | None], AsyncMicroClient]] = (
    weakref.WeakKeyDictionary()
)


def _key(base_url: str | None, api_key: str | None) -> tuple[str, str | None]:
    config = ClientConfig.resolve(base_url, api_key)
    return config.base_url, config.api_key


def sync_client(base_url: str | None = None, api_key: str | None = None) -> MicroClient:
    key = _key(base_url, api_key)
    with _lock:
        if key not in _sync:
            _sync[key] = MicroClient(*key)
        return _sync[key]


def async_client(base_url: str | None = None, api_key: str | None = None) -> AsyncMicroClient:
    """The running loop's client for this URL and key (call from a coroutine)."""
    key = _key(base_url, api_key)
    per_loop = _async.setdefault(asyncio.get_running_loop(), {})
    if key not in per_loop:
        per_loop[key] = AsyncMicroClient(*key)
    return per_loop[key]
