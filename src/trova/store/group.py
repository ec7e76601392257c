"""Group commit: units of write work from many threads, run together in one write transaction.

On SQLite every write transaction takes the one write lock of the file, and what a transaction
costs beyond its statements (the in-process queue, the lock passed between processes, ``BEGIN
IMMEDIATE``, ``COMMIT``, the thread switches while the lock is held) is paid once per transaction.
Under load the API's ``POST /phone/single`` requests wait for that lock; run through a
:class:`GroupCommit`, those waiting together share one transaction. The units run one after the
other straight on its connection; should one raise, the transaction rolls back and the group runs
again with each unit in its own savepoint, so a unit that fails is undone alone and the others
commit (units must be safe to run twice: their work is in the transaction only). A unit's caller
hears its outcome only once the shared transaction has committed (or its error, if the commit
fails): nothing is answered before it is durable.

The first unit to arrive while no group is running leads: it takes every unit queued (up to
``max_units``, its own first), runs them, commits, and hands the lead to the oldest unit left, so a
leader answers its own request after one group and no thread serves groups for ever.

On PostgreSQL writers do not share one lock, but the POSTs of one account do: each takes the
account's row and holds it until its commit, WAL flush included. A group per account left
clients of many accounts with a transaction per POST, about 2.2 ms of an API process's CPU each
(begin, the take, four inserts, the ``NOTIFY``, the commit, each a round trip), against 0.8 ms
for POSTs sharing one. So the POSTs waiting together share one whatever their accounts, as on
SQLite: the units of a group run in ascending ``order`` (the API gives the account id; arrival
order among equals), so every group, in every process, takes the account rows it locks in one
order, and two groups cannot deadlock on them. Should they deadlock on anything else (two retries
of one ``Idempotency-Key`` in two processes at once), PostgreSQL aborts the unit that waited (its
savepoint) or the whole group, and each unit aborted runs again, once the group has ended, in a
transaction of its own.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from operator import attrgetter
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from trova.store.engine import Database, savepoint

T = TypeVar("T")


class _Unit(Generic[T]):
    """One caller's work, its outcome once settled, and the event its thread waits on."""

    __slots__ = ("error", "order", "result", "settled", "turn", "work")

    def __init__(self, work: Callable[[Connection], T], order: int) -> None:
        self.work = work
        self.order = order
        self.result: T | None = None
        self.error: BaseException | None = None
        self.settled = False
        self.turn = threading.Event()
        """Set when the unit is settled, or when its thread is handed the lead."""

    def run(self, conn: Connection, isolated: bool) -> None:
        """Run the work: ``isolated``, in a savepoint of its own, its error kept for its caller;
        otherwise straight on the connection, its error raised (the transaction then rolls back)."""
        self.result, self.error = None, None
        if not isolated:
            self.result = self.work(conn)
            return
        try:
            with savepoint(conn):
                self.result = self.work(conn)
        except Exception as error:
            self.error = error

    def settle(self, error: BaseException | None = None) -> None:
        if error is not None:
            self.result, self.error = None, error
        self.settled = True
        self.turn.set()

    def outcome(self) -> T:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]


class GroupCommit:
    """Runs ``work(conn)`` calls from many threads in shared write transactions of ``db``: an API
    process's POSTs, each group's in ascending ``order`` (module docstring)."""

    def __init__(self, db: Database, *, max_units: int = 64) -> None:
        self._db = db
        self._max_units = max_units
        self._lock = threading.Lock()
        self._queue: deque[_Unit[Any]] = deque()
        self._leading = False

    @property
    def queued(self) -> int:
        """Units waiting for a transaction (none of them run yet)."""
        with self._lock:
            return len(self._queue)

    def run(self, work: Callable[[Connection], T], *, order: int = 0) -> T:
        """``work(conn)``'s result once its transaction has committed; its error if it raised (the
        others' work commits), or the commit's error. In its group, ``work`` runs after the units of
        a lower ``order`` and those of its own that came before it."""
        unit = _Unit(work, order)
        with self._lock:
            self._queue.append(unit)
            lead = not self._leading
            self._leading = True
        if not lead:
            unit.turn.wait()
        if not unit.settled:
            self._lead()
        return unit.outcome()

    def _lead(self) -> None:
        with self._lock:
            group = [self._queue.popleft() for _ in range(min(len(self._queue), self._max_units))]
        group.sort(key=attrgetter("order"))
        try:
            self._commit(group)
        except BaseException as error:
            for unit in group:
                if not unit.settled:
                    unit.settle(error)  # no caller waits for ever on a group that broke
            raise
        finally:
            with self._lock:
                if self._queue:
                    self._queue[0].turn.set()
                else:
                    self._leading = False

    def _commit(self, group: list[_Unit[Any]], *, isolated: bool = False) -> None:
        """Run ``group`` in one transaction and settle its units. First each unit's work runs
        straight on the connection; should one of several raise, the transaction rolls back and the
        group runs again with each unit in a savepoint of its own, so that it fails alone. A
        savepoint is two statements more for every unit, under the write lock, and each statement
        lets the interpreter go: under load, getting it back cost the group more than its work."""
        try:
            with self._db.write() as conn:
                for unit in group:
                    _run_in(conn, unit, isolated=isolated, alone=len(group) == 1)
        except _UnitRaised:
            self._commit(group, isolated=True)
            return
        except BaseException as error:
            if len(group) > 1 and _deadlocked(error):
                self._each_alone(group)
                return
            for unit in group:
                unit.settle(error)
            if not isinstance(error, Exception):
                raise
        else:
            again = [unit for unit in group if _deadlocked(unit.error)]
            for unit in group:
                if unit not in again:
                    unit.settle()
            self._each_alone(again)

    def _each_alone(self, units: list[_Unit[Any]]) -> None:
        """Run each of ``units`` again in a transaction of its own: those a deadlock aborted."""
        for unit in units:
            self._commit([unit])


class _UnitRaised(Exception):
    """A unit of a group run without savepoints raised: the group runs again, each in one."""


def _run_in(conn: Connection, unit: _Unit[Any], *, isolated: bool, alone: bool) -> None:
    """``unit.run``; alone in its transaction or ``isolated``, a unit's error is its own, otherwise
    it raises :class:`_UnitRaised` for the group to run again."""
    if isolated or alone:
        unit.run(conn, isolated=isolated)
        return
    try:
        unit.run(conn, isolated=False)
    except Exception as error:
        raise _UnitRaised() from error


def _deadlocked(error: BaseException | None) -> bool:
    """PostgreSQL aborted the transaction to break a deadlock (SQLSTATE 40P01)."""
    return isinstance(error, sa.exc.DBAPIError) and getattr(error.orig, "sqlstate", None) == "40P01"
