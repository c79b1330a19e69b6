"""The request middleware on a toy app: request ids everywhere, deadline -> 504, unexpected
errors -> 500 problem, chunked bodies over the limit -> 413."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI, Request

from service.core.errors import PayloadTooLarge, QueueFull, Unauthorized, install_error_handlers
from service.api.middleware import RequestContext


def toy_app(timeout_s: float = 5.0, max_body_bytes: int = 1024) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/slow")
    async def slow() -> dict:
        await asyncio.sleep(2)
        return {}

    @app.get("/boom")
    async def boom() -> dict:
        raise RuntimeError("secret detail")

    @app.post("/echo")
    async def echo(request: Request) -> dict:
        app.state.echoed = True
        return {"n": len(await request.body())}

    @app.get("/busy")
    async def busy() -> dict:
        raise QueueFull("queue full", retry_after_s=3)

    @app.get("/locked")
    async def locked() -> dict:
        raise Unauthorized("no key")

    @app.get("/count")
    async def count(n: int) -> dict:
        return {"n": n}

    app.add_middleware(RequestContext, max_body_bytes=max_body_bytes, timeout_s=timeout_s)
    return app


def call(app: FastAPI, method: str, path: str, **kw) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://toy") as client:
            return await client.request(method, path, **kw)

    return asyncio.run(go())


def test_deadline_gives_504_problem_with_request_id():
    reply = call(toy_app(timeout_s=0.1), "GET", "/slow")
    assert reply.status_code == 504
    assert reply.json()["request_id"] == reply.headers["x-request-id"]


def test_unexpected_error_gives_500_problem_without_internals():
    reply = call(toy_app(), "GET", "/boom")
    assert reply.status_code == 500
    assert reply.headers["content-type"] == "application/problem+json"
    assert "secret" not in reply.text and reply.headers["x-request-id"]


def test_chunked_body_over_the_limit_is_413():
    async def chunks():
        for _ in range(10):
            yield b"x" * 200

    reply = call(toy_app(max_body_bytes=1024), "POST", "/echo", content=chunks())
    assert reply.status_code == 413
    assert call(toy_app(), "POST", "/echo", content=b"x" * 100).json() == {"n": 100}


def test_client_request_id_is_echoed_and_junk_is_replaced():
    app = toy_app()
    assert call(app, "POST", "/echo", content=b"", headers={"X-Request-ID": "abc-1"}).headers["x-request-id"] == "abc-1"
    junk = call(app, "POST", "/echo", content=b"", headers={"X-Request-ID": "bad id\twith spaces"})
    assert junk.headers["x-request-id"] != "bad id\twith spaces" and len(junk.headers["x-request-id"]) == 32


def test_declared_body_over_the_limit_is_413_problem_before_the_app_runs():
    app = toy_app(max_body_bytes=10)
    reply = call(app, "POST", "/echo", content=b"x" * 11)
    assert reply.status_code == 413 and reply.headers["content-type"] == "application/problem+json"
    assert reply.json()["title"] == PayloadTooLarge.title and reply.json()["request_id"] == reply.headers["x-request-id"]
    assert not getattr(app.state, "echoed", False)


def test_every_kind_of_error_gets_the_one_problem_shape():
    app = toy_app()
    replies = {path: call(app, "GET", path) for path in ["/busy", "/locked", "/nowhere", "/count?n=x", "/boom"]}
    assert [r.status_code for r in replies.values()] == [429, 401, 404, 422, 500]
    for path, reply in replies.items():
        body = reply.json()
        assert reply.headers["content-type"] == "application/problem+json", path
        assert {"type", "title", "status", "detail", "request_id"} <= body.keys(), path
        assert body["status"] == reply.status_code and body["request_id"] == reply.headers["x-request-id"], path
    assert replies["/busy"].headers["retry-after"] == "3"
    assert replies["/locked"].headers["www-authenticate"].startswith("Bearer")
    assert replies["/count?n=x"].json()["errors"][0]["field"] == "query.n"
