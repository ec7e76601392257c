"""The outbox's claim, lease and fencing, on both databases; skip-locked claims on PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from tests.support.databases import fresh_postgres_database
from tests.webhooks.conftest import new_account, queue
from trova.store import Database, utcnow
from trova.store.migrate import upgrade
from trova.webhooks import repository as repo
from trova.webhooks.models import Outcome


def _claim(db: Database, owner: str, *, limit: int = 10, at: dt.datetime | None = None, lease_s: float = 60):
    now = at or utcnow()
    with db.write() as conn:
        return repo.claim_due(
            conn, owner=owner, limit=limit, now=now, lease_until=now + dt.timedelta(seconds=lease_s)
        )


def test_claim_leases_due_messages_once_oldest_first(db: Database, account: tuple[int, str]) -> None:
    ids = [queue(db, account[0], "https://example.com/h") for _ in range(3)]
    first = _claim(db, "a", limit=2)
    assert [m.id for m in first] == ids[:2] and all(m.lease_owner == "a" for m in first)
    assert [m.id for m in _claim(db, "b")] == ids[2:]
    assert _claim(db, "c") == []


def test_messages_due_later_are_not_claimed(db: Database, account: tuple[int, str]) -> None:
    message_id = queue(db, account[0], "https://example.com/h")
    (claimed,) = _claim(db, "a")
    with db.write() as conn:
        later = utcnow() + dt.timedelta(hours=1)
        assert repo.schedule_retry(conn, message_id, owner="a", next_attempt_at=later, error="HTTP 500")
    assert _claim(db, "b") == []
    assert [m.id for m in _claim(db, "b", at=later + dt.timedelta(seconds=1))] == [claimed.id]


def test_an_expired_lease_is_claimed_again_with_the_same_id_and_fences_the_old_owner(
    db: Database, account: tuple[int, str]
) -> None:
    message_id = queue(db, account[0], "https://example.com/h")
    assert [m.id for m in _claim(db, "dead", lease_s=-1)] == [message_id]
    (again,) = _claim(db, "alive")
    assert again.id == message_id and again.lease_owner == "alive"
    with db.write() as conn:
        assert not repo.schedule_retry(conn, message_id, owner="dead", next_attempt_at=utcnow(), error="x")
        assert not repo.mark_failed(conn, message_id, owner="dead", error="x")
        assert repo.mark_failed(conn, message_id, owner="alive", error="HTTP 410")
        final = repo.get_message(conn, message_id)
    assert final is not None and final.status == "failed" and final.attempts == 1


def test_delivered_and_failed_messages_are_never_claimed_and_requeue_revives_them(
    db: Database, account: tuple[int, str]
) -> None:
    delivered = queue(db, account[0], "https://example.com/h")
    failed = queue(db, account[0], "https://example.com/h")
    _claim(db, "a")
    with db.write() as conn:
        repo.insert_attempt(conn, delivered, Outcome("delivered", utcnow(), 12, status_code=200))
        repo.mark_delivered(conn, delivered, now=utcnow())
        repo.mark_failed(conn, failed, owner="a", error="HTTP 410")
    assert _claim(db, "b", at=utcnow() + dt.timedelta(days=2)) == []
    with db.write() as conn:
        assert repo.requeue(conn, delivered, now=utcnow())
        assert not repo.requeue(conn, "msg_unknown", now=utcnow())
        assert repo.attempt_counts(conn, [delivered, failed]) == {delivered: 1}
    assert [m.id for m in _claim(db, "b")] == [delivered]


@pytest.fixture
def pg() -> Iterator[Database]:
    with fresh_postgres_database() as url:
        database = Database(url)
        upgrade(database)
        yield database
        database.dispose()


@pytest.mark.postgres
def test_concurrent_claims_skip_locked_rows_instead_of_waiting_or_sharing_them(pg: Database) -> None:
    account_id, _ = new_account(pg)
    ids = [queue(pg, account_id, "https://example.com/h") for _ in range(4)]
    now = utcnow()
    with pg.write() as holder:
        held = repo.claim_due(holder, owner="a", limit=2, now=now, lease_until=now + dt.timedelta(seconds=60))
        with pg.engine.connect() as other, other.begin():
            other.exec_driver_sql("SET LOCAL lock_timeout = '5s'")
            taken = repo.claim_due(other, owner="b", limit=10, now=now, lease_until=now)
        assert [m.id for m in held] == ids[:2]
        assert [m.id for m in taken] == ids[2:]
