"""The short way of the hot requests (``trova.api.hot``): GET /account/info, GET and POST
/phone/single, POST /phone/bulk and GET/HEAD /healthz answered by the app in this process, on a real
SQLite file, with everything the full way gave them: bodies and headers, authentication, the guard's
limits, request ids, the access line and the request counters."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
import pytest

from trova.accounts import service as accounts
from trova.api.app import create_app
from trova.api.hot import TrovaApi
from trova.errors import InvalidApiKey, MissingApiKey, RateLimited, SearchNotFound
from trova.metrics import exposition
from trova.settings import Settings
from trova.store import Database
from trova.store.migrate import upgrade

T = TypeVar("T")
MISSING = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
def store(tmp_path: Path) -> Any:
    db = Database(f"sqlite:///{tmp_path / 'trova.db'}")
    upgrade(db)
    with db.write() as conn:
        made = accounts.create_account(
            conn, "hot", credits=1200, paygo=34, webhook_url="https://hooks.example.com/t"
        )
    yield db, made.api_key, tmp_path
    db.dispose()


def run(store: Any, talk: Callable[[httpx.AsyncClient], Awaitable[T]], **settings: Any) -> T:
    db, _key, tmp_path = store
    app = create_app(Settings(database_url=db.url, web_data_dir=tmp_path / "web", **settings), db)
    assert isinstance(app, TrovaApi)

    async def go() -> T:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await talk(client)

    return asyncio.run(go())


def counted(method: str, route: str, status: int) -> float:
    """The value of ``trova_http_requests_total`` for these labels (0 when absent)."""
    wanted = f'trova_http_requests_total{{method="{method}",route="{route}",status="{status}"}} '
    for line in exposition().decode().splitlines():
        if line.startswith(wanted):
            return float(line.split()[-1])
    return 0.0


def test_account_info_body_and_headers_are_exactly_the_api_s(store: Any) -> None:
    _db, key, _tmp = store
    before = counted("GET", "/account/info", 200)

    async def talk(client: httpx.AsyncClient) -> httpx.Response:
        return await client.get("/account/info", headers={"x-api-key": key, "x-request-id": "hot-1"})

    answer = run(store, talk)
    body = orjson.dumps(
        {
            "credits": 1234,
            "webhooks": ["https://hooks.example.com/t"],
            "credits_detail": {"sub": 1200, "paygo": 34},
        }
    )
    assert answer.status_code == 200 and answer.content == body
    assert answer.headers.multi_items() == [
        ("content-length", str(len(body))),
        ("content-type", "application/json"),
        ("x-request-id", "hot-1"),
    ]
    assert counted("GET", "/account/info", 200) == before + 1


def test_the_short_way_still_authenticates_and_counts_failures(store: Any) -> None:
    _db, key, _tmp = store

    async def talk(client: httpx.AsyncClient) -> list[httpx.Response]:
        answers = [await client.get("/account/info"), await client.get(f"/phone/single?id={MISSING}")]
        answers += [await client.get("/account/info", headers={"x-api-key": "wrong"}) for _ in range(3)]
        answers.append(await client.get("/account/info", headers={"x-api-key": key}))
        answers.append(await client.get(f"/phone/single?id={MISSING}", headers={"x-api-key": key}))
        return answers

    missing, missing_single, *wrong, blocked, not_found = run(store, talk, rate_limit_unauth_per_s=4)
    no_key = orjson.dumps({"message": MissingApiKey.message})
    assert (missing.status_code, missing.content) == (401, no_key)
    assert (missing_single.status_code, missing_single.content) == (401, no_key)
    invalid = (401, {"message": InvalidApiKey.message})
    assert [(w.status_code, w.json()) for w in wrong] == [
        invalid,
        invalid,
        (429, {"message": RateLimited.message}),
    ]
    assert [name for name, _ in missing.headers.multi_items()] == [
        "content-length",
        "content-type",
        "x-request-id",
    ]
    # the fifth failure from this address in a second was refused: now even the right key waits
    assert blocked.status_code == 429 and blocked.headers["retry-after"]
    assert (not_found.status_code, not_found.json()) in (
        (404, {"message": SearchNotFound.message}),
        (429, blocked.json()),
    )


def test_the_guard_still_applies_header_limit_request_id_and_access_line(
    store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    _db, key, _tmp = store

    async def talk(client: httpx.AsyncClient) -> list[httpx.Response]:
        headers = {"x-api-key": key}
        return [
            await client.get("/account/info", headers={**headers, "x-big": "a" * 2000}),
            await client.get("/account/info", headers={**headers, "x-request-id": "bad id"}),
            await client.head("/healthz"),
            await client.get("/healthz", headers={"x-request-id": "health-7"}),
        ]

    with caplog.at_level(logging.INFO):
        too_big, fresh_id, head, health = run(store, talk, max_header_bytes=1024)
    assert (too_big.status_code, too_big.json()) == (431, {"message": "Request header fields too large"})
    assert too_big.headers["connection"] == "close"
    assert fresh_id.status_code == 200 and len(fresh_id.headers["x-request-id"]) == 32
    assert int(fresh_id.headers["x-request-id"], 16) >= 0
    assert head.status_code == 200 and head.headers["content-type"] == "application/json"
    assert health.json()["status"] == "ok" and health.headers["x-request-id"] == "health-7"
    access = [record for record in caplog.records if record.name == "trova.access"]
    assert [record.getMessage().split()[:3] for record in access] == [
        ["GET", "/account/info", "431"],
        ["GET", "/account/info", "200"],
        ["HEAD", "/healthz", "200"],
        ["GET", "/healthz", "200"],
    ]


def test_hot_and_other_requests_share_one_in_flight_bound(store: Any) -> None:
    _db, key, _tmp = store
    release = asyncio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        await release.wait()
        yield b'{"linkedin_url": "https://www.linkedin.com/in/ada"}'

    async def talk(client: httpx.AsyncClient) -> list[httpx.Response]:
        headers = {"x-api-key": key, "content-type": "application/json"}
        post = asyncio.create_task(client.post("/phone/single", content=slow_body(), headers=headers))
        await asyncio.sleep(0.2)  # the POST is in flight, waiting for its body
        hot = [await client.get("/account/info", headers=headers), await client.get("/healthz")]
        release.set()
        return [*hot, await post, await client.get("/healthz")]

    info, health, post, after = run(store, talk, max_in_flight_requests=1)
    for answer in (info, health):
        assert (answer.status_code, answer.json()) == (503, {"message": "Service temporarily unavailable"})
        assert answer.headers["retry-after"] == "1"
    assert post.status_code == 201 and after.status_code == 200


def test_an_unknown_method_on_a_hot_path_takes_the_full_way(store: Any) -> None:
    async def talk(client: httpx.AsyncClient) -> httpx.Response:
        return await client.delete("/account/info")

    answer = run(store, talk)
    assert (answer.status_code, answer.json()) == (405, {"message": "Method not allowed"})
    assert answer.headers["allow"] == "GET"


def test_posts_take_the_short_way_with_their_order_headers_and_counters(store: Any) -> None:
    db, key, _tmp = store
    created_before = counted("POST", "/phone/single", 201)
    limited_before = counted("POST", "/phone/bulk", 429)
    single = {"linkedin_url": "https://www.linkedin.com/in/ada"}

    async def talk(client: httpx.AsyncClient) -> list[httpx.Response]:
        headers = {"x-api-key": key, "content-type": "application/json"}
        return [
            await client.post("/phone/single", content=b"x" * 2048, headers={"x-api-key": "wrong"}),
            await client.post("/phone/single", json=single),
            await client.post("/phone/single", json=single, headers={"x-api-key": "wrong"}),
            await client.post("/phone/single", content=b"{", headers=headers),
            await client.post("/phone/single", json=single, headers=headers),
            await client.post("/phone/bulk", json={"searches": [single]}, headers=headers),
        ]

    too_big, no_key, wrong_key, bad_json, created, limited = run(
        store, talk, max_body_bytes=1024, rate_limit_post_per_s=2
    )
    assert (too_big.status_code, too_big.json()) == (413, {"message": "Payload too large"})
    assert (no_key.status_code, no_key.json()) == (401, {"message": MissingApiKey.message})
    assert (wrong_key.status_code, wrong_key.json()) == (401, {"message": InvalidApiKey.message})
    assert bad_json.status_code == 400 and bad_json.headers["x-ratelimit-remaining"] == "1"
    assert created.status_code == 201 and created.headers["x-ratelimit-remaining"] == "0"
    assert created.json()["message"] == "Single search operating"
    assert (limited.status_code, limited.json()) == (429, {"message": RateLimited.message})
    assert limited.headers["x-ratelimit-limit"] == "2" and limited.headers["retry-after"]
    assert counted("POST", "/phone/single", 201) == created_before + 1
    assert counted("POST", "/phone/bulk", 429) == limited_before + 1
    with db.read() as conn:
        account = accounts.authenticate(conn, key, phone=True)
    assert account.sub_credits + account.paygo_credits == 1234 - created.json()["credits_used"] > 0
