"""Fixtures of the scale-out tests: a fresh PostgreSQL database (required in CI, never skipped there)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.databases import fresh_postgres_database
from trova.store import Database
from trova.store.migrate import upgrade


@pytest.fixture
def pg_url() -> Iterator[str]:
    """An empty PostgreSQL database for one test."""
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def pg_db(pg_url: str) -> Iterator[Database]:
    """A migrated PostgreSQL database."""
    database = Database(pg_url)
    upgrade(database)
    yield database
    database.dispose()
