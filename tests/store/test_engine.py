"""Transactions under a database that cannot serve (issue 17, defects 4 and 5): a write lock held by
another process past the busy timeout, a read-only file, a full database, a server that is down."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from tests.support.databases import postgres_with_another_session
from tests.support.locks import exclusive_lock
from trova.errors import DatabaseBusy, DatabaseUnavailable
from trova.store import Database, utcnow
from trova.store.gate import FifoGate
from trova.store.migrate import upgrade
from trova.store.tables import readiness_probes


def probe(db: Database, name: str) -> None:
    with db.write() as conn:
        conn.execute(sa.insert(readiness_probes).values(name=name, probed_at=utcnow()))


def probes(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(readiness_probes)).scalar_one())


def migrated(path: Path, busy_timeout_s: float = 0.5) -> Database:
    db = Database(f"sqlite:///{path}", busy_timeout_s=busy_timeout_s, unavailable_errors=True)
    upgrade(db)
    return db


def test_a_write_past_the_busy_timeout_is_database_busy_and_reads_go_on(tmp_path: Path) -> None:
    db = migrated(tmp_path / "trova.db")
    try:
        with exclusive_lock(tmp_path / "trova.db"):
            started = time.monotonic()
            with pytest.raises(DatabaseBusy):
                probe(db, "blocked")
            assert time.monotonic() - started < 10
            assert probes(db) == 0
        probe(db, "after")
    finally:
        db.dispose()


def test_a_read_only_file_is_database_unavailable(tmp_path: Path) -> None:
    migrated(tmp_path / "trova.db").dispose()
    db = Database(f"sqlite:///file:{tmp_path / 'trova.db'}?mode=ro&uri=true", unavailable_errors=True)
    try:
        with pytest.raises(DatabaseUnavailable) as raised:
            probe(db, "x")
        assert "readonly" in raised.value.reason and not isinstance(raised.value, DatabaseBusy)
        assert raised.value.headers["Retry-After"] == "5"
    finally:
        db.dispose()


def test_a_full_database_is_database_unavailable(tmp_path: Path) -> None:
    db = migrated(tmp_path / "trova.db")

    @event.listens_for(db.engine, "connect")
    def _cap(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA max_page_count = 1")

    db.engine.dispose()
    try:
        with pytest.raises(DatabaseUnavailable) as raised, db.write() as conn:
            conn.execute(
                sa.insert(readiness_probes),
                [{"name": f"p{i}-" + "x" * 50, "probed_at": utcnow()} for i in range(5000)],
            )
        assert "full" in raised.value.reason
    finally:
        db.dispose()


def test_a_bad_statement_stays_a_bug_not_a_503(tmp_path: Path) -> None:
    db = migrated(tmp_path / "trova.db")
    try:
        with pytest.raises(sa.exc.OperationalError), db.read() as conn:
            conn.execute(sa.text("SELECT * FROM no_such_table"))
    finally:
        db.dispose()


@pytest.mark.postgres
def test_a_postgres_lock_held_past_the_busy_timeout_is_database_busy_and_reads_go_on() -> None:
    with ThreadPoolExecutor(1) as pool, postgres_with_another_session(busy_timeout_s=0.5) as (db, other):
        upgrade(db)
        other.exec_driver_sql("LOCK TABLE readiness_probes IN EXCLUSIVE MODE")
        blocked = pool.submit(probe, db, "blocked")
        with pytest.raises(DatabaseBusy) as raised:
            blocked.result(timeout=10)
        assert "lock" in raised.value.reason
        assert probes(db) == 0
        other.rollback()
        probe(db, "after")


@pytest.mark.postgres
def test_a_postgres_server_that_does_not_answer_is_database_unavailable() -> None:
    db = Database("postgresql://trova@127.0.0.1:1/none", unavailable_errors=True)
    try:
        with pytest.raises(DatabaseUnavailable), db.read():
            pass
    finally:
        db.dispose()


def _session_ids(db: Database) -> set[int]:
    with db.read_single() as conn:
        return {int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())}


@pytest.mark.postgres
def test_pooled_sessions_the_server_ended_are_replaced_before_anyone_uses_them() -> None:
    """What a restart of PostgreSQL does to idle pooled connections, done by ``pg_terminate_backend``:
    the next requests get new sessions, none sees an error (no ``pool_pre_ping`` round trip)."""
    with postgres_with_another_session(busy_timeout_s=5) as (db, other):
        upgrade(db)
        with ThreadPoolExecutor(3) as pool:  # a few pooled connections, all idle afterwards
            used = set().union(*pool.map(lambda _: _session_ids(db), range(3)))
        ended = {
            int(pid)
            for (pid,) in other.execute(
                sa.text(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid()"
                )
            )
        }
        other.execute(
            sa.text("SELECT pg_terminate_backend(pid) FROM unnest(:pids) AS pid"), {"pids": list(ended)}
        )
        other.commit()
        assert used <= ended
        time.sleep(0.2)
        for n in range(4):
            probe(db, f"after-{n}")
            assert not _session_ids(db) & ended
        assert probes(db) == 4


def test_without_unavailable_errors_the_driver_error_stays(tmp_path: Path) -> None:
    migrated(tmp_path / "trova.db").dispose()
    db = Database(f"sqlite:///file:{tmp_path / 'trova.db'}?mode=ro&uri=true")
    try:
        with pytest.raises(sa.exc.OperationalError, match="readonly"):
            probe(db, "x")
    finally:
        db.dispose()


def _in_transaction(conn: sa.Connection) -> bool:
    dbapi: Any = conn.connection.dbapi_connection
    if conn.dialect.name == "sqlite":
        return bool(dbapi.in_transaction)
    return str(dbapi.info.transaction_status.name) != "IDLE"


def test_read_single_runs_its_statement_outside_any_transaction(db: Database) -> None:
    probe(db, "first")
    with db.read_single() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(readiness_probes)).scalar_one() == 1
        assert not _in_transaction(conn)
    with db.read() as conn:
        conn.execute(sa.select(sa.func.count()).select_from(readiness_probes)).scalar_one()
        assert _in_transaction(conn)


def test_each_statement_of_read_single_sees_what_was_committed_before_it(db: Database) -> None:
    count = sa.select(sa.func.count()).select_from(readiness_probes)
    with db.read_single() as conn:
        assert conn.execute(count).scalar_one() == 0
        probe(db, "between")
        assert conn.execute(count).scalar_one() == 1
    if db.is_sqlite:  # PostgreSQL's READ COMMITTED gives each statement its own snapshot anyway
        with db.read() as conn:
            assert conn.execute(count).scalar_one() == 1
            probe(db, "inside")
            assert conn.execute(count).scalar_one() == 1, "a read transaction keeps its snapshot"


def test_the_write_gate_serves_its_waiters_in_arrival_order() -> None:
    gate = FifoGate()
    assert gate.acquire(timeout=1)
    order: list[int] = []

    def wait_then_pass(n: int) -> None:
        assert gate.acquire(timeout=30)
        order.append(n)
        gate.release()

    with ThreadPoolExecutor(5) as pool:
        for n in range(5):
            pool.submit(wait_then_pass, n)
            deadline = time.monotonic() + 10
            while gate.waiting < n + 1 and time.monotonic() < deadline:
                time.sleep(0.001)
        assert gate.waiting == 5
        gate.release()
    assert order == [0, 1, 2, 3, 4]
    assert gate.acquire(timeout=0.01)


def test_a_waiter_whose_time_runs_out_leaves_the_queue() -> None:
    gate = FifoGate()
    assert gate.acquire(timeout=1)
    assert not gate.acquire(timeout=0.05)
    assert gate.waiting == 0
    gate.release()
    assert gate.acquire(timeout=0.01)


def test_before_commit_callbacks_run_last_in_the_transaction_by_order_and_never_after_a_failure(
    db: Database,
) -> None:
    from trova.store.engine import before_commit, savepoint

    order: list[str] = []

    def last(name: str) -> Callable[[], None]:
        def run() -> None:
            order.append(name)
            with db.engine.connect() as other, other.begin():
                seen = other.execute(sa.select(sa.func.count()).select_from(readiness_probes)).scalar_one()
            order.append(f"others see {seen}")
            conn.execute(sa.insert(readiness_probes).values(name=name, probed_at=utcnow()))

        return run

    with db.write() as conn:
        before_commit(conn, last("late"), order=2)
        conn.execute(sa.insert(readiness_probes).values(name="body", probed_at=utcnow()))
        with pytest.raises(RuntimeError), savepoint(conn):
            before_commit(conn, last("undone"))
            raise RuntimeError("this unit fails")
        before_commit(conn, last("early"), order=1)
        before_commit(conn, last("later"), order=2)
        order.append("body ends")
    assert order == ["body ends", "early", "others see 0", "late", "others see 0", "later", "others see 0"]
    with pytest.raises(RuntimeError), db.write() as conn:
        before_commit(conn, last("never"))
        raise RuntimeError("the transaction fails")
    with db.read() as conn:
        stored = set(conn.execute(sa.select(readiness_probes.c.name)).scalars())
    assert stored == {"body", "early", "late", "later"}
    assert order[-1] == "others see 0"
