"""Group commit (``trova.store.group``): units from many threads in shared transactions, each in its
own savepoint, answered only once their transaction has committed; on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection

from trova.store import Database, utcnow
from trova.store.engine import after_commit
from trova.store.group import GroupCommit
from trova.store.tables import readiness_probes


def insert(name: str) -> Callable[[Connection], str]:
    def work(conn: Connection) -> str:
        conn.execute(sa.insert(readiness_probes).values(name=name, probed_at=utcnow()))
        return name

    return work


def names(db: Database) -> set[str]:
    with db.read() as conn:
        return set(conn.execute(sa.select(readiness_probes.c.name)).scalars())


def commits_of(db: Database) -> list[int]:
    counted = [0]

    @event.listens_for(db.engine, "commit")
    def _count(conn: Connection) -> None:
        counted[0] += 1

    return counted


def blocked_leader(group: GroupCommit, pool: ThreadPoolExecutor) -> tuple[threading.Event, Future[str]]:
    """A unit that leads a group of its own and holds it open until the returned event is set."""
    started, release = threading.Event(), threading.Event()

    def work(conn: Connection) -> str:
        started.set()
        release.wait(30)
        return insert("leader")(conn)

    leading = pool.submit(group.run, work)
    assert started.wait(30)
    return release, leading


def queue_up(
    group: GroupCommit, pool: ThreadPoolExecutor, units: list[Callable[[Connection], str]]
) -> list[Future[str]]:
    """Submit ``units`` behind a running group and wait until every one of them is queued."""
    futures = [pool.submit(group.run, unit) for unit in units]
    while group.queued < len(units):
        threading.Event().wait(0.005)
    return futures


def test_the_units_queued_behind_a_group_share_the_next_transaction(db: Database) -> None:
    group = GroupCommit(db)
    commits = commits_of(db)
    with ThreadPoolExecutor(12) as pool:
        release, leading = blocked_leader(group, pool)
        followers = queue_up(group, pool, [insert(f"n{i}") for i in range(10)])
        assert not any(future.done() for future in followers)
        release.set()
        assert leading.result(30) == "leader"
        assert sorted(future.result(30) for future in followers) == sorted(f"n{i}" for i in range(10))
    assert commits[0] == 2
    assert names(db) == {"leader", *(f"n{i}" for i in range(10))}


def test_a_failing_unit_is_undone_alone_with_its_after_commit_callbacks(db: Database) -> None:
    group = GroupCommit(db)
    called: list[str] = []

    def noted(name: str, fail: bool) -> Callable[[Connection], str]:
        def work(conn: Connection) -> str:
            insert(name)(conn)
            after_commit(conn, lambda: called.append(name))
            if fail:
                raise ValueError(f"{name} refused")
            return name

        return work

    with ThreadPoolExecutor(6) as pool:
        release, leading = blocked_leader(group, pool)
        futures = queue_up(group, pool, [noted("a", False), noted("bad", True), noted("c", False)])
        release.set()
        leading.result(30)
        assert futures[0].result(30) == "a"
        with pytest.raises(ValueError, match="bad refused"):
            futures[1].result(30)
        assert futures[2].result(30) == "c"
    assert names(db) == {"leader", "a", "c"}
    assert sorted(called) == ["a", "c"]


def test_a_unit_alone_that_fails_writes_nothing_and_the_next_one_leads(db: Database) -> None:
    group = GroupCommit(db)

    def failing(conn: Connection) -> str:
        insert("lost")(conn)
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        group.run(failing)
    assert group.run(insert("kept")) == "kept"
    assert names(db) == {"kept"}


def test_a_unit_breaking_a_constraint_in_a_group_fails_alone(db: Database) -> None:
    """Two units of one group insert the same key: the second one's savepoint is undone, its
    caller gets the database's error, and the transaction (on PostgreSQL too) goes on."""
    group = GroupCommit(db)
    with ThreadPoolExecutor(6) as pool:
        release, leading = blocked_leader(group, pool)
        futures = queue_up(group, pool, [insert("x"), insert("x"), insert("y")])
        release.set()
        leading.result(30)
        assert futures[0].result(30) == "x"
        with pytest.raises(sa.exc.IntegrityError):
            futures[1].result(30)
        assert futures[2].result(30) == "y"
    assert names(db) == {"leader", "x", "y"}
