"""Group commit: units of write work from many threads, run together in one write transaction.

On SQLite every write transaction takes the one write lock of the file, and what a transaction
costs beyond its statements (the in-process queue, the lock passed between processes, ``BEGIN
IMMEDIATE``, ``COMMIT``, the thread switches while the lock is held) is paid once per transaction.
Under load the API's ``POST /phone/single`` requests wait for that lock; run through a
:class:`GroupCommit`, those waiting together share one transaction, each in its own savepoint, so a
unit that fails is undone alone and the others commit. A unit's caller hears its outcome only once
the shared transaction has committed (or its error, if the commit fails): nothing is answered
before it is durable.

The first unit to arrive while no group is running leads: it takes every unit queued (up to
``max_units``, its own first), runs them, commits, and hands the lead to the oldest unit left, so a
leader answers its own request after one group and no thread serves groups for ever.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from sqlalchemy.engine import Connection

from trova.store.engine import Database, savepoint

T = TypeVar("T")


class _Unit(Generic[T]):
    """One caller's work, its outcome once settled, and the event its thread waits on."""

    __slots__ = ("error", "result", "settled", "turn", "work")

    def __init__(self, work: Callable[[Connection], T]) -> None:
        self.work = work
        self.result: T | None = None
        self.error: BaseException | None = None
        self.settled = False
        self.turn = threading.Event()
        """Set when the unit is settled, or when its thread is handed the lead."""

    def run(self, conn: Connection, alone: bool) -> None:
        """Run the work; alone in its transaction it needs no savepoint (its error rolls back all)."""
        if alone:
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
    """Runs ``work(conn)`` calls from many threads in shared write transactions of ``db``.

    For SQLite only: on PostgreSQL writers do not queue for one lock, and a transaction holding
    several requests' rows (accounts, idempotency keys) could deadlock with another process's group.
    """

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

    def run(self, work: Callable[[Connection], T]) -> T:
        """``work(conn)``'s result once its transaction has committed; its error if it raised (the
        others' work commits), or the commit's error."""
        unit = _Unit(work)
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
        try:
            self._commit(group)
        finally:
            with self._lock:
                if self._queue:
                    self._queue[0].turn.set()
                else:
                    self._leading = False

    def _commit(self, group: list[_Unit[Any]]) -> None:
        try:
            with self._db.write() as conn:
                for unit in group:
                    unit.run(conn, alone=len(group) == 1)
        except BaseException as error:
            for unit in group:
                unit.settle(error)
            if not isinstance(error, Exception):
                raise
        else:
            for unit in group:
                unit.settle()
