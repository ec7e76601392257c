"""One write transaction at a time on a SQLite file, among the threads of a process and among the
processes that write it.

SQLite has one write lock per file. Two processes that want it at once (the API and the worker
process of ``trova serve``, the API processes of ``serve --workers N``, an import) used to meet
only in SQLite's busy handler, which sleeps between its tries for up to 100 ms whatever the lock
does meanwhile: a lock freed after 1 ms went unused for most of the sleep, and POSTs queued behind
it until ``busy_timeout`` answered 503. Here, a write first takes the gate of its process
(:class:`FifoGate`: one thread per process waits, without holding a pooled connection, and waiters
are served in arrival order), then an ``flock`` on a file
beside the database (``<file>-writer``), tried every few hundred microseconds, doubling up to
``MAX_POLL_S``: the lock passes from one process to the next within a millisecond or two of its
release. SQLite's own lock stays the authority; the gate only makes the waiting short and orderly.
When the file beside the database cannot be opened (a read-only directory), only the threads of
the process are gated.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections import deque

MIN_POLL_S = 0.0002
MAX_POLL_S = 0.002
SUFFIX = "-writer"


def _open_lock_file(database_path: str | None) -> int | None:
    if not database_path or database_path == ":memory:" or database_path.startswith("file:"):
        return None
    try:
        return os.open(database_path + SUFFIX, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError:
        return None


class FifoGate:
    """One holder at a time, the waiters served in the order they came: :meth:`release` hands the
    gate to the oldest waiter itself, so no later caller can take it first.

    A semaphore lets a newcomer take the gate before the waiter it just woke gets the interpreter
    back: under load (200 connections, a fifth of them POSTs) the oldest writes then waited out
    ``busy_timeout_s`` and answered 503 while newer ones went through."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held = False
        self._waiters: deque[threading.Lock] = deque()

    def acquire(self, timeout: float) -> bool:
        """Wait at most ``timeout`` seconds for the gate; False when it did not come."""
        with self._lock:
            if not self._held:
                self._held = True
                return True
            waiter = threading.Lock()
            waiter.acquire()
            self._waiters.append(waiter)
        if waiter.acquire(timeout=timeout):
            return True
        with self._lock:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
                return False
        return True  # handed over as the wait ran out

    def release(self) -> None:
        with self._lock:
            if self._waiters:
                self._waiters.popleft().release()
            else:
                self._held = False

    @property
    def waiting(self) -> int:
        """How many callers wait for the gate."""
        return len(self._waiters)


class WriteGate:
    """``acquire(timeout_s)`` / ``release()`` around every write transaction (module docstring)."""

    def __init__(self, database_path: str | None) -> None:
        self._threads = FifoGate()
        self._fd = _open_lock_file(database_path)

    def acquire(self, timeout_s: float) -> bool:
        """True once this thread may write; False when ``timeout_s`` passed first."""
        deadline = time.monotonic() + timeout_s
        if not self._threads.acquire(timeout_s):
            return False
        if self._fd is None:
            return True
        delay = MIN_POLL_S
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                pass
            except OSError:
                return True  # the lock file misbehaves: SQLite's own lock still serialises
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._threads.release()
                return False
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, MAX_POLL_S)

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._threads.release()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
