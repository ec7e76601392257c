"""Fixtures shared by every test: real databases and real servers, nothing mocked."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.databases import fresh_postgres_database
from trova.store import Database
from trova.store.migrate import upgrade


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database URL, once on a SQLite file and once on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'trova.db'}"
    else:
        with fresh_postgres_database() as url:
            yield url


@pytest.fixture
def pg_url() -> Iterator[str]:
    """An empty PostgreSQL database for one test."""
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def pg_db(pg_url: str) -> Iterator[Database]:
    """A migrated PostgreSQL database, for tests of what only PostgreSQL does (concurrent writers)."""
    with migrated(pg_url) as database:
        yield database


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """An empty SQLite file URL, for tests that are about the embedded default only."""
    return f"sqlite:///{tmp_path / 'trova.db'}"


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    """A migrated database on both dialects."""
    with migrated(db_url) as database:
        yield database


@contextmanager
def migrated(url: str) -> Iterator[Database]:
    """The database at ``url``, migrated to the newest schema, disposed of afterwards."""
    database = Database(url)
    upgrade(database)
    yield database
    database.dispose()
