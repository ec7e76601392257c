"""Waking idle workers the moment work arrives, in this process and across processes.

Two mechanisms feed one in-process :class:`WorkSignal`:

* **In-process**: the API handler that committed a batch calls :func:`notify_work`, which wakes the
  embedded workers of the same process at once, and the workers of the child process ``trova serve``
  starts (:func:`relay_wakeups` in the API process or processes, :func:`receive_wakeups` in the
  child, over a unix datagram socket): the only mechanism on SQLite, where every process shares
  one file and no server can relay a message.
* **PostgreSQL ``LISTEN/NOTIFY``**: :func:`announce` sends ``NOTIFY trova_jobs`` inside the
  transaction that inserts jobs; PostgreSQL delivers it only when that transaction commits (and
  never if it rolls back), so a woken worker always finds the jobs. Every worker-running process
  keeps one listening connection (:func:`listen_for_work`) that turns each notification into a
  :func:`notify_work` of its own.

Polling every ``worker_poll_interval_s`` stays as the fallback: it finds work whose notification was
lost (listener reconnecting, PostgreSQL restarted) and jobs whose lease expired, which nobody
announces.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

import psycopg
import sqlalchemy as sa
from prometheus_client import Counter
from psycopg import sql
from sqlalchemy.engine import Connection

from trova.store.engine import TRANSACTION_STATE, before_commit, on_rollback

if TYPE_CHECKING:
    from trova.settings import Settings
    from trova.store import Database

log = logging.getLogger("trova.jobs.notify")

CHANNEL = "trova_jobs"
LISTEN_TIMEOUT_S = 0.5
"""How long one wait for notifications lasts before the listener looks at its stop event again."""
RECONNECT_BACKOFF_S = (0.5, 1.0, 2.0, 5.0, 10.0)
"""Waits between attempts to re-establish a lost listening connection (the last one repeats)."""

WAKEUPS = Counter("trova_worker_wakeups", "Idle workers woken by a notification", ["source"])
LISTEN_FAILURES = Counter(
    "trova_worker_listen_failures", "Lost or refused LISTEN connections (polling covers meanwhile)"
)


class WorkSignal:
    """A generation counter under a condition variable: a wake-up can never fall between the checks.

    A worker reads :meth:`generation` *before* it looks for work; if a notification arrives after
    that look but before it starts waiting, :meth:`wait` sees the newer generation and returns at
    once instead of sleeping through a poll interval.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._generation = 0

    def generation(self) -> int:
        with self._condition:
            return self._generation

    def notify(self) -> None:
        with self._condition:
            self._generation += 1
            self._condition.notify_all()

    def wait(self, timeout_s: float, since: int | None = None) -> bool:
        """Wait until a notification newer than ``since`` (or any, when None); False on timeout."""
        with self._condition:
            target = self._generation if since is None else since
            return self._condition.wait_for(lambda: self._generation != target, timeout_s)


_signal = WorkSignal()
_relays: list[Callable[[], None]] = []


def notify_work() -> None:
    """Wake this process's idle workers at once (a batch was just committed, or a stop was asked),
    and those of its worker child process (:func:`relay_wakeups`).

    Other processes learn of the work through :func:`announce` (PostgreSQL) or by polling.
    """
    _signal.notify()
    for relay in tuple(_relays):
        relay()


WAKE_ADDRESS_ENV = "TROVA_WAKE_ADDRESS"
"""Where ``trova serve --workers N`` tells its API processes the worker child's wake-up address."""


def wakeup_socket() -> tuple[socket.socket, str]:
    """A datagram socket for a worker child to receive wake-ups on, and its address for
    :func:`relay_wakeups`: on Linux a name in the abstract namespace (no file to clean up), else a
    file in a private temporary directory.

    The serving process binds it before it starts its API processes and hands it to every
    incarnation of the child, so wake-ups sent while the child restarts wait in it."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = f"trova-wakeups-{os.getpid()}-{uuid.uuid4().hex}"
    if sys.platform.startswith("linux"):
        sock.bind("\0" + name)
        return sock, "@" + name
    path = os.path.join(tempfile.mkdtemp(prefix="trova-"), "wakeups")
    sock.bind(path)
    return sock, path


def _socket_address(address: str) -> str:
    return "\0" + address[1:] if address.startswith("@") else address


def relay_wakeups(address: str) -> Callable[[], None]:
    """Make :func:`notify_work` also send one datagram to ``address`` (:func:`wakeup_socket`), read
    by a worker child's :func:`receive_wakeups`; returns the relay, for :func:`stop_relaying`.

    Any process can send there: the API process of ``trova serve`` and each API process of
    ``serve --workers N`` (:func:`relay_wakeups_from_env`). The send never blocks the API: a full
    queue (the child is behind) drops the datagram, since the wake-ups already queued will do.
    """
    sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sender.setblocking(False)
    target = _socket_address(address)

    def relay() -> None:
        with contextlib.suppress(OSError):
            sender.sendto(b"\0", target)

    _relays.append(relay)
    return relay


def relay_wakeups_from_env() -> None:
    """:func:`relay_wakeups` to the address in ``TROVA_WAKE_ADDRESS``, when it is set (the API
    processes of ``trova serve --workers N``)."""
    address = os.environ.get(WAKE_ADDRESS_ENV, "")
    if address:
        relay_wakeups(address)


def stop_relaying(relay: Callable[[], None]) -> None:
    if relay in _relays:
        _relays.remove(relay)


def receive_wakeups(sock: socket.socket) -> None:
    """Child side of :func:`relay_wakeups`: wake this process's workers once for every burst of
    datagrams on ``sock``, until it is closed. Run it on a daemon thread."""
    while True:
        try:
            sock.recv(64)
            with contextlib.suppress(BlockingIOError, InterruptedError):
                while True:
                    sock.recv(64, socket.MSG_DONTWAIT)
        except OSError:
            return
        WAKEUPS.labels("parent").inc()
        _signal.notify()


def work_generation() -> int:
    """The current wake-up generation; pass it to :func:`wait_for_work` as ``since``."""
    return _signal.generation()


def wait_for_work(timeout_s: float, since: int | None = None) -> bool:
    """Sleep until woken or ``timeout_s`` passed (the polling fallback); True when woken."""
    return _signal.wait(timeout_s, since)


_NOTIFY = sa.text("SELECT pg_notify(:channel, '')")


_ANNOUNCED = TRANSACTION_STATE + "jobs_announced"


def announce(conn: Connection) -> None:
    """Queue ``NOTIFY trova_jobs`` in the caller's write transaction (PostgreSQL; nothing on SQLite).

    PostgreSQL sends it at commit. It is issued once per transaction, as the transaction's last
    statements run (:func:`~trova.store.engine.before_commit`), however many jobs it inserts: the
    POSTs sharing a group commit each sent their own, a round trip each, which PostgreSQL then
    folded into one message anyway.
    """
    if conn.dialect.name != "postgresql" or conn.info.get(_ANNOUNCED):
        return
    conn.info[_ANNOUNCED] = True
    on_rollback(conn, partial(conn.info.pop, _ANNOUNCED, None))
    before_commit(conn, partial(_notify, conn))


def _notify(conn: Connection) -> None:
    conn.execute(_NOTIFY, {"channel": CHANNEL})


def listener_conninfo(db: Database) -> str:
    """A libpq connection string for ``db``'s PostgreSQL server (the driver name removed)."""
    return db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def _listen(conninfo: str, stop: threading.Event) -> None:
    """Hold one autocommit connection on ``LISTEN trova_jobs`` and relay notifications until ``stop``.

    Autocommit matters: a listening connection inside an open transaction would receive nothing.
    After (re)connecting it wakes the workers once, since work may have been announced while no
    one was listening.
    """
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
        WAKEUPS.labels("listen_started").inc()
        notify_work()
        while not stop.is_set():
            for _note in conn.notifies(timeout=LISTEN_TIMEOUT_S):
                WAKEUPS.labels("notify").inc()
                notify_work()
                if stop.is_set():
                    break


def listen_for_work(settings: Settings, db: Database, stop: threading.Event) -> None:
    """Background loop of worker-running processes: relay PostgreSQL notifications to the workers.

    Returns at once on SQLite. A lost connection is logged, counted and re-established with a
    growing backoff; the workers keep polling meanwhile, so nothing is missed, only later.
    """
    del settings
    if db.dialect != "postgresql":
        return
    conninfo = listener_conninfo(db)
    failures = 0
    while not stop.is_set():
        try:
            _listen(conninfo, stop)
            failures = 0
        except Exception as error:
            LISTEN_FAILURES.inc()
            delay = RECONNECT_BACKOFF_S[min(failures, len(RECONNECT_BACKOFF_S) - 1)]
            failures += 1
            log.warning("listening for new jobs failed (%s); polling only, retrying in %.1fs", error, delay)
            stop.wait(delay)
