"""Admission before work: cost from Content-Length, 429 + Retry-After at once over the budget,
GET routes (liveness) never counted nor refused, the budget released when a request ends; bodies
charged as they arrive, a tenant's share of the budget."""

from __future__ import annotations

import asyncio
import time

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from service.api.admission import Admission, estimated_tokens
from service.core.logs import tenant_var


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


def held_request(app: Admission, declared: int, tenant: str | None, body_arrives: asyncio.Event
                 ) -> tuple[asyncio.Task, list[int]]:
    """A POST declaring ``declared`` bytes whose body arrives only when ``body_arrives`` is set; -> the task
    and the statuses it was answered."""
    statuses: list[int] = []
    scope = {"type": "http", "method": "POST", "path": "/work", "raw_path": b"/work", "query_string": b"",
             "headers": [(b"content-length", str(declared).encode())], "root_path": "", "scheme": "http",
             "server": ("t", 80), "client": ("c", 1), "http_version": "1.1", "asgi": {"version": "3.0"}}

    async def receive() -> dict:
        await body_arrives.wait()
        return {"type": "http.request", "body": b"x" * declared, "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def run() -> None:
        token = tenant_var.set(tenant)
        try:
            await app(scope, receive, send)
        finally:
            tenant_var.reset(token)

    return asyncio.ensure_future(run()), statuses


def test_a_declared_body_that_does_not_arrive_holds_no_budget_until_it_does():
    async def go():
        gate, bodies, arrives = asyncio.Event(), [], asyncio.Event()
        app = slow_app(gate, bodies)
        task, _ = held_request(app, 3200, None, arrives)  # declares ~800 tokens, sends nothing yet
        await asyncio.sleep(0.05)
        before = app.admitted
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            other = asyncio.ensure_future(client.post("/work", content=b"y" * 1200))  # 300 tokens: admitted
            while len(bodies) < 1:
                await asyncio.sleep(0.01)
            arrives.set()  # the slow body comes in: charged now
            while len(bodies) < 2:
                await asyncio.sleep(0.01)
            charged = app.admitted
            gate.set()
            await asyncio.gather(task, other)
        return before, charged, (await other).status_code, app.admitted

    before, charged, other_status, after = asyncio.run(go())
    assert before == 0 and other_status == 200
    assert charged == 800 + 300 and after == 0


def test_one_tenant_cannot_declare_more_than_its_share_while_others_are_admitted():
    async def go():
        gate, bodies, arrives = asyncio.Event(), [], asyncio.Event()
        app = slow_app(gate, bodies)
        app.tenant_share = 0.5  # of a budget of 1000
        held, _ = held_request(app, 1600, "a", arrives)  # tenant a: ~400 tokens declared
        await asyncio.sleep(0.05)
        a_again, a_statuses = held_request(app, 800, "a", arrives)  # 400 + 200 > 500: refused
        b, b_statuses = held_request(app, 800, "b", arrives)  # tenant b: admitted
        await asyncio.sleep(0.05)
        arrives.set()
        gate.set()
        await asyncio.gather(held, a_again, b)
        return a_statuses, b_statuses, app.admitted, dict(app.declared)

    a_statuses, b_statuses, admitted, declared = asyncio.run(go())
    assert a_statuses == [429] and b_statuses == [200]
    assert admitted == 0 and declared == {}
