"""GuardMiddleware around small ASGI apps (issue 17, defects 8 and 9; the in-flight bound)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httpx
import pytest

from trova.api.middleware import GuardMiddleware, request_id_var

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


async def failing(scope: Scope, receive: Receive, send: Send) -> None:
    logging.getLogger("trova.test").info("inside the request")
    raise RuntimeError("boom")


async def ok(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": request_id_var.get().encode()})


def guarded(app: Any, **limits: int) -> httpx.AsyncClient:
    options = {"max_header_bytes": 8192, "max_in_flight": 10, **limits}
    transport = httpx.ASGITransport(app=GuardMiddleware(app, **options))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


def test_an_unexpected_error_is_one_log_line_and_a_json_500_that_closes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def run() -> httpx.Response:
        async with guarded(failing) as client:
            return await client.get("/x")

    with caplog.at_level(logging.INFO):
        response = asyncio.run(run())
    assert (response.status_code, response.json()) == (500, {"message": "Internal server error"})
    assert response.headers["connection"] == "close"
    assert response.headers["content-type"] == "application/json"
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is not None


def test_every_answer_carries_a_request_id_and_a_sane_one_is_kept() -> None:
    async def run() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        async with guarded(ok) as client:
            return (
                await client.get("/"),
                await client.get("/", headers={"x-request-id": "abc-123"}),
                await client.get("/", headers={"x-request-id": "bad id\twith spaces"}),
            )

    fresh, kept, replaced = asyncio.run(run())
    assert kept.headers["x-request-id"] == "abc-123" == kept.text
    assert len(fresh.headers["x-request-id"]) == 32 and fresh.text == fresh.headers["x-request-id"]
    assert replaced.headers["x-request-id"] not in ("bad id\twith spaces", fresh.headers["x-request-id"])


def test_requests_past_the_in_flight_bound_get_503_at_once() -> None:
    release, both_in = asyncio.Event(), asyncio.Event()
    inside: list[int] = []

    async def slow(scope: Scope, receive: Receive, send: Send) -> None:
        inside.append(1)
        if len(inside) == 2:
            both_in.set()
        await release.wait()
        await ok(scope, receive, send)

    async def run() -> list[httpx.Response]:
        async with guarded(slow, max_in_flight=2) as client:
            held = [asyncio.create_task(client.get("/")) for _ in range(2)]
            await both_in.wait()
            refused = await client.get("/")
            release.set()
            return [refused, *await asyncio.gather(*held)]

    refused, *served = asyncio.run(run())
    assert (refused.status_code, refused.json()) == (503, {"message": "Service temporarily unavailable"})
    assert refused.headers["retry-after"] == "1"
    assert [response.status_code for response in served] == [200, 200]
