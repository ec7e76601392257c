"""The API when the database cannot serve (issue 17, defects 4 and 5): a write lock held by another
process, a read-only database; ``/healthz`` (alive) against ``/readyz`` (able to work)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import Api, start_api
from tests.support.disks import fill, small_filesystem
from tests.support.locks import exclusive_lock
from trova.accounts import service as accounts
from trova.api.app import create_app
from trova.settings import Settings
from trova.store import Database
from trova.store.migrate import upgrade

BUSY_TIMEOUT_S = 1.0
WRITERS = 60
"""More writers than anyio's 40 threads and SQLAlchemy's 20 pooled connections."""


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    instance = start_api(
        tmp_path_factory.mktemp("busy"),
        {"TROVA_DB_BUSY_TIMEOUT_S": str(BUSY_TIMEOUT_S), "TROVA_RATE_LIMIT_POST_PER_S": "10000"},
    )
    yield instance
    instance.server.stop()


def test_a_lock_held_elsewhere_answers_writes_503_and_reads_at_once(busy: Api) -> None:
    key = busy.account("locked-out", "--credits", "100000")
    client = busy.client(key)
    created = client.post("/phone/single", json={"linkedin_url": "https://www.linkedin.com/in/ada"})
    assert created.status_code == 201

    def post(index: int) -> httpx.Response:
        with busy.client(key) as own:
            return own.post("/phone/single", json={"linkedin_url": f"https://www.linkedin.com/in/p{index}"})

    with exclusive_lock(busy.tmp / "trova.db"), ThreadPoolExecutor(WRITERS) as pool:
        posts = [pool.submit(post, index) for index in range(WRITERS)]
        time.sleep(0.3)
        headers = {"x-api-key": key}
        with httpx.Client(base_url=busy.server.base_url, headers=headers, timeout=3.0) as quick:
            assert quick.get("/healthz").status_code == 200
            assert quick.get("/account/info").status_code == 200
            assert quick.get(f"/phone/single?id={created.json()['id']}").status_code in (200, 202)
            ready = quick.get("/readyz")
        answers = [future.result() for future in posts]
    assert ready.status_code == 503 and "database unavailable" in ready.json()["checks"]["write"]
    statuses = {answer.status_code for answer in answers}
    assert statuses == {503}, statuses
    assert all(answer.json() == {"message": "Service temporarily unavailable"} for answer in answers)
    assert all(answer.headers["retry-after"] == "1" for answer in answers)
    after = client.post("/phone/single", json={"linkedin_url": "https://www.linkedin.com/in/after"})
    assert after.status_code == 201
    assert client.get("/readyz").json()["status"] == "ready"
    client.close()


def app_client(db: Database, tmp_path: Path) -> httpx.AsyncClient:
    app = create_app(Settings(database_url=db.url, web_data_dir=tmp_path / "web"), db)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def test_a_read_only_database_is_503_with_one_log_line_and_not_ready(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "trova.db"
    writable = Database(f"sqlite:///{path}")
    upgrade(writable)
    with writable.write() as conn:
        key = accounts.create_account(conn, "ro", credits=1000).api_key
    writable.dispose()
    db = Database(f"sqlite:///file:{path}?mode=ro&uri=true", unavailable_errors=True)

    async def run() -> list[httpx.Response]:
        async with app_client(db, tmp_path) as client:
            body = {"linkedin_url": "https://www.linkedin.com/in/ada"}
            headers = {"x-api-key": key}
            posts = [await client.post("/phone/single", json=body, headers=headers) for _ in range(3)]
            return [*posts, await client.get("/healthz"), await client.get("/readyz")]

    try:
        with caplog.at_level(logging.INFO, logger="trova"):
            *posts, health, ready = asyncio.run(run())
    finally:
        db.dispose()
    for post in posts:
        assert (post.status_code, post.json()) == (503, {"message": "Service temporarily unavailable"})
        assert post.headers["retry-after"] == "5"
    assert health.status_code == 200
    assert ready.status_code == 503 and ready.headers["retry-after"]
    assert ready.json()["checks"]["read"] == "ok" and "readonly" in ready.json()["checks"]["write"]
    lines = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(lines) == 1 and "readonly" in lines[0].getMessage() and lines[0].exc_info is None


def test_a_full_filesystem_is_503_charges_nothing_and_heals_when_room_returns(tmp_path: Path) -> None:
    with small_filesystem(tmp_path / "disk", 4 * 1024 * 1024) as disk:
        db = Database(f"sqlite:///{disk / 'trova.db'}", unavailable_errors=True)
        upgrade(db)
        with db.write() as conn:
            key = accounts.create_account(conn, "full", credits=1_000_000).api_key
        with contextlib.closing(db.engine.raw_connection()) as raw:
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        filler = fill(disk / "filler")
        searches = {"searches": [{"linkedin_url": f"https://www.linkedin.com/in/p{i}"} for i in range(3000)]}

        async def run() -> list[httpx.Response]:
            async with app_client(db, tmp_path) as client:
                headers = {"x-api-key": key}
                full = [await client.post("/phone/bulk", json=searches, headers=headers),
                        await client.get("/readyz"), await client.get("/account/info", headers=headers)]
                filler.unlink()
                healed = [await client.post("/phone/bulk", json=searches, headers=headers),
                          await client.get("/readyz")]
                return [*full, *healed]

        try:
            refused, not_ready, info, accepted, ready = asyncio.run(run())
        finally:
            db.dispose()
    assert (refused.status_code, refused.json()) == (503, {"message": "Service temporarily unavailable"})
    assert refused.headers["retry-after"]
    assert not_ready.status_code == 503 and "full" in not_ready.json()["checks"]["write"]
    assert info.status_code == 200 and info.json()["credits"] == 1_000_000
    assert accepted.status_code == 201 and ready.status_code == 200


def test_readyz_says_when_the_schema_is_not_current(tmp_path: Path) -> None:
    path = tmp_path / "trova.db"
    db = Database(f"sqlite:///{path}", unavailable_errors=True)
    upgrade(db)

    async def ready() -> httpx.Response:
        async with app_client(db, tmp_path) as client:
            return await client.get("/readyz")

    try:
        first = asyncio.run(ready())
        assert first.status_code == 200 and set(first.json()["checks"].values()) == {"ok"}
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE alembic_version SET version_num = 'i17a'")
        second = asyncio.run(ready())
    finally:
        db.dispose()
    assert second.status_code == 503 and "i17a" in second.json()["checks"]["migrations"]
