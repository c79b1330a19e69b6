"""Admission before work: cost from Content-Length, 429 + Retry-After at once over the budget,
GET routes (liveness) never counted nor refused, the budget released when a request ends."""

from __future__ import annotations

import asyncio
import time

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from service.api.admission import Admission, estimated_tokens


def slow_app(gate: asyncio.Event, bodies_read: list[int]) -> Admission:
    async def work(request: Request) -> JSONResponse:
        bodies_read.append(len(await request.body()))
        await gate.wait()
        return JSONResponse({"ok": True})

    async def live(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    app = Starlette(routes=[Route("/work", work, methods=["POST"]), Route("/health/live", live)])
    return Admission(app, budget_tokens=1000, bytes_per_token=4.0, cap_tokens=900, retry_after_s=2)


def test_estimate_grows_with_bytes_and_is_capped():
    assert estimated_tokens(400, 4.0, 900) == 100
    assert estimated_tokens(4_000_000, 4.0, 900) == 900
    assert estimated_tokens(None, 4.0, 900) == 900
    assert estimated_tokens(0, 4.0, 900) == 1


def test_over_budget_request_is_refused_at_once_before_its_body_is_read():
    async def go():
        gate, bodies = asyncio.Event(), []
        app = slow_app(gate, bodies)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            held = asyncio.create_task(client.post("/work", content=b"x" * 3200))  # ~800 tokens admitted
            while not bodies:
                await asyncio.sleep(0.01)
            start = time.perf_counter()
            refused = await client.post("/work", content=b"y" * 1200)  # 800 + 300 > 1000
            refused_s = time.perf_counter() - start
            live = await client.get("/health/live")
            held_admitted = app.admitted
            gate.set()
            ok = await held
            after = await client.post("/work", content=b"y" * 1200)  # the budget is free again
        return refused, refused_s, live, held_admitted, ok, after, bodies, app.admitted

    refused, refused_s, live, held_admitted, ok, after, bodies, admitted_end = asyncio.run(go())
    assert refused.status_code == 429 and refused.headers["retry-after"] == "2"
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused_s < 0.5 and bodies == [3200, 1200]  # the refused body was never read
    assert live.status_code == 200 and held_admitted == 800
    assert ok.status_code == 200 and after.status_code == 200 and admitted_end == 0


def test_first_request_is_admitted_whatever_its_size():
    async def go():
        gate, bodies = asyncio.Event(), []
        gate.set()
        app = slow_app(gate, bodies)
        app.budget_tokens = 10
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            return await client.post("/work", content=b"z" * 4000)

    assert asyncio.run(go()).status_code == 200
