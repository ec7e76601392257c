"""Real databases for tests: a fresh SQLite file, or a fresh PostgreSQL database per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from trova.store import Database

PG_ADMIN_URL = os.environ.get("TROVA_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def postgres_reachable() -> bool:
    try:
        engine = sa.create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 2})
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


def require_postgres() -> None:
    """Skip (locally, with the reason shown) or fail (in CI) when PostgreSQL is not reachable."""
    if postgres_reachable():
        return
    if IN_CI:
        pytest.fail(f"PostgreSQL is required in CI but not reachable at {PG_ADMIN_URL}")
    pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}")


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """Create an empty database for one test and drop it afterwards; yields its URL."""
    require_postgres()
    name = f"trova_t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@contextmanager
def postgres_with_another_session(busy_timeout_s: float) -> Iterator[tuple[Database, Connection]]:
    """A fresh PostgreSQL database opened the way ``serve`` opens it (503 errors, ``busy_timeout_s``),
    and a connection of another session that can take locks against it."""
    with fresh_postgres_database() as url:
        db = Database(url, busy_timeout_s=busy_timeout_s, unavailable_errors=True)
        other = sa.create_engine(url)
        try:
            with other.connect() as session:
                yield db, session
        finally:
            other.dispose()
            db.dispose()


REDIS_URL = os.environ.get("TROVA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_reachable(url: str = REDIS_URL) -> bool:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except redis.RedisError:
        return False


def require_redis() -> str:
    """The test Redis URL; skip (locally, with the reason shown) or fail (in CI) when unreachable."""
    if redis_reachable():
        return REDIS_URL
    if IN_CI:
        pytest.fail(f"Redis is required in CI but not reachable at {REDIS_URL}")
    pytest.skip(f"Redis not reachable at {REDIS_URL}")
