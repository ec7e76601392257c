"""``trova db copy``: an embedded SQLite install with batches in every state, copied onto PostgreSQL,
answers every GET identically, accepts new work, and a second copy into it is refused."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.scaleout.support import PRICE, Deployment, bulk_body, contacts_csv, deployment, profile
from tests.support.servers import run_trova
from trova.accounts.service import verify_copied_balances
from trova.batches.step import BatchStep
from trova.errors import DatabaseCopyError
from trova.finder.service import Finder
from trova.jobs import service as jobs
from trova.people.models import Answer, Search
from trova.settings import Settings
from trova.sources.waterfall import from_settings
from trova.store import Database, utcnow
from trova.store.copy import copy_database
from trova.store.tables import metadata
from trova.webhooks import repository as webhooks_repo
from trova.webhooks.models import Outcome

HOOK_ENV = {"TROVA_WEBHOOK_ALLOW_HTTP": "true", "TROVA_WEBHOOK_ALLOW_PRIVATE": "true"}


class BrokenFinder(Finder):
    def resolve_many(self, searches: Sequence[Search]) -> list[Answer]:
        raise RuntimeError("upstream down")


def work(url: str, *, broken: bool = False) -> None:
    """Run the workers in this process until the queue is empty (a broken finder fails every job)."""
    db = Database(url)
    try:
        settings = Settings(database_url=url, job_max_attempts=1)
        finder = BrokenFinder(db) if broken else Finder(db, from_settings(db, settings))
        jobs.run_until_idle(db, settings, BatchStep(db, settings, finder))
    finally:
        db.dispose()


def post(client: httpx.Client, path: str, body: dict[str, Any]) -> str:
    response = client.post(path, json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def embedded_install(d: Deployment, tmp: Path) -> tuple[str, dict[str, list[str]]]:
    """Contacts, an account with a webhook, and batches completed, failed and ongoing (bulk and single)."""
    d.cli("import", str(contacts_csv(tmp / "contacts.csv", range(0, 40, 2))), "--quiet")
    key = d.account("acme", 1000 * PRICE)
    d.cli("accounts", "set-webhook", "acme", "http://127.0.0.1:9/hook")
    ids: dict[str, list[str]] = {"bulk": [], "single": []}
    api = d.api()
    with httpx.Client(base_url=api.base_url, headers={"x-api-key": key}, timeout=60) as client:
        ids["bulk"].append(post(client, "/phone/bulk", bulk_body(20)))
        ids["single"].append(post(client, "/phone/single", {"linkedin_url": profile(2)}))
        work(d.url)
        ids["bulk"].append(post(client, "/phone/bulk", {**bulk_body(5, offset=20), "custom": {"run": 2}}))
        work(d.url, broken=True)
        ids["bulk"].append(post(client, "/phone/bulk", bulk_body(7, offset=30)))
        ids["single"].append(post(client, "/phone/single", {"linkedin_url": profile(4)}))
    api.stop()
    record_a_webhook_attempt(d.url)
    return key, ids


def record_a_webhook_attempt(url: str) -> None:
    db = Database(url)
    try:
        with db.write() as conn:
            message = webhooks_repo.list_messages(conn, limit=1)[0]
            outcome = Outcome(verdict="retry", attempted_at=utcnow(), latency_ms=12, status_code=503,
                              error="HTTP 503", response_excerpt="busy")
            webhooks_repo.insert_attempt(conn, message.id, outcome)
    finally:
        db.dispose()


def answers(base_url: str, key: str, ids: dict[str, list[str]]) -> list[tuple[int, Any]]:
    with httpx.Client(base_url=base_url, headers={"x-api-key": key}, timeout=60) as client:
        got = [client.get("/phone/bulk", params={"id": i}) for i in ids["bulk"]]
        got += [client.get("/phone/single", params={"id": i}) for i in ids["single"]]
        got.append(client.get("/account/info"))
    return [(response.status_code, response.json()) for response in got]


def table_rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            return {
                table.name: sorted(
                    (tuple(row) for row in conn.execute(sa.select(table))), key=lambda row: repr(row)
                )
                for table in metadata.sorted_tables
            }
    finally:
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.slow
def test_an_embedded_install_copied_to_postgresql_answers_identically(
    sqlite_url: str, pg_url: str, tmp_path: Path
) -> None:
    with deployment(sqlite_url, tmp_path, **HOOK_ENV) as embedded:
        key, ids = embedded_install(embedded, tmp_path)
        first = answers(embedded.api().base_url, key, ids)
        statuses = [body["general"]["status"] for _code, body in first[:3]]
        assert statuses == ["completed", "failed", "ongoing"]
        before = answers(embedded.api().base_url, key, ids)

    copied = run_trova("db", "copy", "--from", sqlite_url, "--to", pg_url, env={"TROVA_LOG_LEVEL": "warning"})
    assert "verified row counts and the balances of 1 accounts" in copied.stdout
    assert table_rows(pg_url) == table_rows(sqlite_url)

    with deployment(pg_url, tmp_path, **HOOK_ENV) as scaled:
        api = scaled.api()
        assert answers(api.base_url, key, ids) == before
        headers = {"x-api-key": key}
        new = httpx.post(f"{api.base_url}/phone/bulk", json=bulk_body(3, offset=50), headers=headers)
        assert new.status_code == 201, new.text
        scaled.cli("accounts", "create", "newcomer", "--credits", "10")

    again = run_trova("db", "copy", "--from", sqlite_url, "--to", pg_url, env={}, check=False)
    assert again.returncode == 1
    assert again.stderr.strip().splitlines() == [
        "error: the target database is not empty: table accounts has rows; copy only into an empty database"
    ]


def test_copy_refuses_a_missing_source_and_the_same_database(sqlite_url: str, tmp_path: Path) -> None:
    missing = run_trova("db", "copy", "--from", sqlite_url, "--to", f"sqlite:///{tmp_path / 'b.db'}",
                        env={}, check=False)
    assert missing.returncode == 2
    assert missing.stderr.startswith(f"error: no database at {tmp_path / 'trova.db'} ")
    assert len(missing.stderr.strip().splitlines()) == 1
    run_trova("migrate", env={"TROVA_DATABASE_URL": sqlite_url})
    same = run_trova("db", "copy", "--from", sqlite_url, "--to", sqlite_url, env={}, check=False)
    assert (same.returncode, same.stderr.strip()) == (1, "error: --from and --to name the same database")


@pytest.mark.postgres
def test_copy_refuses_a_target_with_tables_that_are_not_trovas(
    sqlite_url: str, pg_url: str, tmp_path: Path
) -> None:
    run_trova("migrate", env={"TROVA_DATABASE_URL": sqlite_url})
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE invoices (id integer primary key)"))
    engine.dispose()
    with pytest.raises(DatabaseCopyError) as refused:
        copy_database(sqlite_url, pg_url, verify_copied_balances)
    assert refused.value.message == (
        "the target database is not empty: it has tables that are not Trova's (invoices)"
    )
