"""The real app (routes, deps, errors, middleware) over an engine on stand-ins (no model load),
and an in-process HTTP call to it."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import httpx

from model.routing import RoutingConfig
from service.app import create_app
from service.core.config import Settings
from service.inference.engine import RewardEngine
from tests.service.engine_doubles import HashingEmbedder, InMemoryStore, tiny_heads


def app_on_doubles(settings: Settings, model_version: str) -> tuple[Any, InMemoryStore]:
    """The app for ``settings`` with a hashing embedder, tiny heads and an in-memory store."""
    app = create_app(settings)
    store, embedder = InMemoryStore(), HashingEmbedder()
    engine = RewardEngine(tiny_heads(), RoutingConfig(tau=1.0, eta=1.0), embedder, embedder, store, model_version)
    app.state.runtime = SimpleNamespace(engine=engine, settings=settings)
    return app, store


def call(app: Any, method: str, path: str, host: str = "test", **kw: Any) -> httpx.Response:
    """One request to ``app`` in process; app exceptions become 500 replies, as on a server."""

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{host}") as client:
            return await client.request(method, path, **kw)

    return asyncio.run(go())
