"""Group commit (``trova.store.group``): units from many threads in shared transactions (each in its
own savepoint once one of them raised), answered only once their transaction has committed; on
SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection

from tests.support.databases import fresh_postgres_database
from trova.store import Database, utcnow
from trova.store.engine import after_commit
from trova.store.group import GroupCommit
from trova.store.migrate import upgrade
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


def blocked_leader(
    run: Callable[[Callable[[Connection], str]], str], pool: ThreadPoolExecutor, name: str = "leader"
) -> tuple[threading.Event, Future[str]]:
    """A unit, given to ``run`` (a group's), that leads a group of its own and holds it open until
    the returned event is set."""
    started, release = threading.Event(), threading.Event()

    def work(conn: Connection) -> str:
        started.set()
        release.wait(30)
        return insert(name)(conn)

    leading = pool.submit(run, work)
    assert started.wait(30)
    return release, leading


def queue_up(
    group: GroupCommit,
    pool: ThreadPoolExecutor,
    units: list[Callable[[Connection], str]],
    orders: list[int] | None = None,
) -> list[Future[str]]:
    """Submit ``units`` (with their ``orders``) behind a running group, each once the one before is
    queued, so that they arrive in the order given."""
    futures: list[Future[str]] = []
    for unit, order in zip(units, orders or [0] * len(units), strict=True):
        futures.append(pool.submit(group.run, unit, order=order))
        while group.queued < len(futures):
            threading.Event().wait(0.005)
    return futures


def test_the_units_queued_behind_a_group_share_the_next_transaction(db: Database) -> None:
    group = GroupCommit(db)
    commits = commits_of(db)
    with ThreadPoolExecutor(12) as pool:
        release, leading = blocked_leader(group.run, pool)
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
        release, leading = blocked_leader(group.run, pool)
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
        release, leading = blocked_leader(group.run, pool)
        futures = queue_up(group, pool, [insert("x"), insert("x"), insert("y")])
        release.set()
        leading.result(30)
        assert futures[0].result(30) == "x"
        with pytest.raises(sa.exc.IntegrityError):
            futures[1].result(30)
        assert futures[2].result(30) == "y"
    assert names(db) == {"leader", "x", "y"}


@pytest.fixture
def pg() -> Iterator[Database]:
    with fresh_postgres_database() as url:
        db = Database(url)
        upgrade(db)
        try:
            yield db
        finally:
            db.dispose()


def test_a_group_runs_its_units_by_order_then_arrival_in_one_transaction(db: Database) -> None:
    group = GroupCommit(db)
    runs: list[str] = []
    commits = commits_of(db)
    arriving, orders = ["c", "a1", "b", "a2"], [3, 1, 2, 1]
    with ThreadPoolExecutor(6) as pool:
        release, leading = blocked_leader(group.run, pool)
        futures = queue_up(group, pool, [counted(insert(name), runs) for name in arriving], orders)
        release.set()
        assert leading.result(30) == "leader"
        assert [future.result(30) for future in futures] == arriving
    assert runs == ["a1", "a2", "b", "c"]
    assert commits[0] == 2


@pytest.mark.postgres
def test_two_groups_taking_the_same_rows_do_not_deadlock_whatever_their_units_arrival(pg: Database) -> None:
    """Two groups (two API processes) each lock the rows of two accounts, their units arriving in
    opposite orders; the first unit of the first group holds its row until the second group holds
    one too (at most a second). Run in arrival order they would deadlock (one unit aborted, run
    again); in account order the second group waits for the first, and every unit runs once."""
    with pg.write() as conn:
        conn.execute(sa.insert(readiness_probes), [{"name": n, "probed_at": utcnow()} for n in ("r1", "r2")])
    first_holds, second_holds = threading.Event(), threading.Event()
    runs: list[str] = []

    def lock(name: str, group: str) -> Callable[[Connection], str]:
        def work(conn: Connection) -> str:
            runs.append(f"{group}:{name}")
            conn.execute(
                sa.update(readiness_probes).where(readiness_probes.c.name == name).values(probed_at=utcnow())
            )
            if group == "second":
                second_holds.set()
            elif not first_holds.is_set():
                first_holds.set()
                second_holds.wait(1)
            return name

        return work

    first, second = GroupCommit(pg), GroupCommit(pg)
    with ThreadPoolExecutor(8) as pool:
        release_first, first_leader = blocked_leader(first.run, pool, "first")
        release_second, second_leader = blocked_leader(second.run, pool, "second")
        firsts = queue_up(first, pool, [lock("r2", "first"), lock("r1", "first")], [2, 1])
        seconds = queue_up(second, pool, [lock("r1", "second"), lock("r2", "second")], [1, 2])
        release_first.set()
        assert first_holds.wait(30)
        release_second.set()
        assert [f.result(60) for f in (first_leader, second_leader, *firsts, *seconds)] == [
            "first",
            "second",
            "r2",
            "r1",
            "r1",
            "r2",
        ]
    assert sorted(runs) == ["first:r1", "first:r2", "second:r1", "second:r2"]


@pytest.mark.postgres
def test_a_unit_a_deadlock_aborts_in_a_group_runs_again_alone_after_it(pg: Database) -> None:
    """Another transaction and a unit of a group take two rows in opposite orders; PostgreSQL
    aborts the unit (the other's deadlock check is put off): the group's other unit commits, the
    other transaction commits, and the unit, run again alone, commits too."""
    with pg.write() as conn:
        conn.execute(sa.insert(readiness_probes), [{"name": n, "probed_at": utcnow()} for n in ("r1", "r2")])
    group = GroupCommit(pg)
    unit_holds_r1, other_holds_r2, unit_waits = threading.Event(), threading.Event(), threading.Event()
    runs = [0]

    def touch(conn: Connection, name: str) -> None:
        conn.execute(
            sa.update(readiness_probes).where(readiness_probes.c.name == name).values(probed_at=utcnow())
        )

    def unit(conn: Connection) -> str:
        runs[0] += 1
        touch(conn, "r1")
        unit_holds_r1.set()
        assert other_holds_r2.wait(30)
        unit_waits.set()
        touch(conn, "r2")
        return "unit"

    def other() -> None:
        with pg.write() as conn:
            conn.exec_driver_sql("SET LOCAL deadlock_timeout = '60s'")
            touch(conn, "r2")
            other_holds_r2.set()
            assert unit_holds_r1.wait(30) and unit_waits.wait(30)
            touch(conn, "r1")

    with ThreadPoolExecutor(6) as pool:
        release, leading = blocked_leader(group.run, pool)
        followers = queue_up(group, pool, [unit, insert("x")])
        beside = pool.submit(other)
        release.set()
        assert leading.result(60) == "leader"
        assert [future.result(60) for future in followers] == ["unit", "x"]
        beside.result(60)
    assert runs[0] == 2
    assert names(pg) == {"r1", "r2", "leader", "x"}


def counted(work: Callable[[Connection], str], runs: list[str]) -> Callable[[Connection], str]:
    def run(conn: Connection) -> str:
        name = work(conn)
        runs.append(name)
        return name

    return run


def test_a_group_runs_each_unit_once_when_none_raises(db: Database) -> None:
    group = GroupCommit(db)
    runs: list[str] = []
    commits = commits_of(db)
    with ThreadPoolExecutor(6) as pool:
        release, leading = blocked_leader(group.run, pool)
        futures = queue_up(group, pool, [counted(insert(name), runs) for name in ("a", "b", "c")])
        release.set()
        leading.result(30)
        assert [future.result(30) for future in futures] == ["a", "b", "c"]
    assert runs == ["a", "b", "c"]
    assert commits[0] == 2
    assert names(db) == {"leader", "a", "b", "c"}


def test_a_unit_that_raises_sends_its_group_round_again_each_unit_in_a_savepoint(db: Database) -> None:
    group = GroupCommit(db)
    runs: list[str] = []
    commits = commits_of(db)

    def refused(conn: Connection) -> str:
        insert("refused")(conn)
        runs.append("refused")
        raise ValueError("refused")

    with ThreadPoolExecutor(6) as pool:
        release, leading = blocked_leader(group.run, pool)
        futures = queue_up(group, pool, [counted(insert("a"), runs), refused, counted(insert("c"), runs)])
        release.set()
        leading.result(30)
        assert futures[0].result(30) == "a"
        with pytest.raises(ValueError, match="refused"):
            futures[1].result(30)
        assert futures[2].result(30) == "c"
    assert runs == ["a", "refused", "a", "refused", "c"]
    assert commits[0] == 2
    assert names(db) == {"leader", "a", "c"}
