"""A real ``trova serve --no-worker`` on a SQLite file; the tests drive the workers in-process.

Running the workers in the test process (``jobs.run_until_idle``) makes "ongoing" and "done" states
deterministic; the end-to-end tests with workers inside the server live in ``test_durability.py``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.databases import fresh_postgres_database
from tests.support.servers import TrovaServer, run_trova
from trova.batches.step import BatchStep
from trova.finder.service import Finder
from trova.jobs import service as jobs
from trova.people.models import Answer, Search
from trova.settings import Settings
from trova.store import Database


class TableFinder(Finder):
    """Answers from a fixed table of LinkedIn keys: lets API tests show found results deterministically."""

    def __init__(self, db: Database, table: dict[str, Answer]) -> None:
        super().__init__(db)
        self.table = table

    def resolve_many(self, searches: Sequence[Search]) -> list[Answer]:
        return [self.table.get(search.linkedin_key or "", Answer(person_key=None)) for search in searches]


@dataclass
class Api:
    server: TrovaServer
    url: str
    env: dict[str, str]
    tmp: Path

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"x-api-key": key} if key else {}
        return httpx.Client(base_url=self.server.base_url, headers=headers, timeout=30)

    def account(self, name: str, *args: str) -> str:
        """Create an account through the CLI; returns its key (the last stdout line)."""
        result = run_trova("accounts", "create", name, *args, env=self.env)
        return result.stdout.strip().splitlines()[-1]

    def cli(self, *args: str) -> str:
        return run_trova(*args, env=self.env).stdout

    def work(self, table: dict[str, Answer] | None = None) -> int:
        """Run the workers in this process until the queue is empty."""
        db = Database(self.url)
        try:
            settings = Settings(database_url=self.url)
            return jobs.run_until_idle(db, settings, BatchStep(db, settings, TableFinder(db, table or {})))
        finally:
            db.dispose()


def start_api(
    tmp: Path,
    extra_env: dict[str, str] | None = None,
    args: Sequence[str] = ("serve", "--no-worker"),
    *,
    url: str | None = None,
) -> Api:
    """A server on ``url`` (default: a SQLite file in ``tmp``)."""
    url = url or f"sqlite:///{tmp / 'trova.db'}"
    env = {
        "TROVA_DATABASE_URL": url,
        "TROVA_LOG_LEVEL": "warning",
        "TROVA_RATE_LIMIT_UNAUTH_PER_S": "10000",
        **(extra_env or {}),
    }
    server = TrovaServer(env, args=args, cwd=tmp)
    server.start()
    return Api(server=server, url=url, env=env, tmp=tmp)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One API-only server per test module and database (SQLite file, fresh PostgreSQL database),
    rate limit high enough not to interfere."""
    with ExitStack() as stack:
        url = None
        if request.param == "postgresql":
            url = stack.enter_context(fresh_postgres_database())
        instance = start_api(
            tmp_path_factory.mktemp("api"), {"TROVA_RATE_LIMIT_POST_PER_S": "10000"}, url=url
        )
        stack.callback(instance.server.stop)
        yield instance
