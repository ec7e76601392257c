"""The background loops of a process, started beside (or instead of) the HTTP API.

``trova worker`` runs ``TROVA_WORKER_CONCURRENCY`` worker threads plus every loop of
:data:`BACKGROUND_LOOPS` (:func:`run_workers`). ``trova serve`` runs the API and the same loops in
a child process it supervises (:func:`worker_process`; ``TROVA_WORKER_PROCESS=false``: as threads
of the API process), so that the workers' CPU never competes with the API for the interpreter lock;
the child dies with the server (``trova.lifeline``), is started again if it dies alone, is woken
by the :func:`notify_work` of the API process (or of each of ``--workers N``) through a unix
datagram socket (``jobs.notify.wakeup_socket``) and relays its counters to the server's
``/metrics`` (``trova.metrics``). ``serve --no-worker`` runs the API alone.

Every loop takes a stop event and returns soon after it is set (SIGTERM sets it), so a
graceful stop finishes the chunk in hand; a hard kill is covered by the job leases.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import signal
import socket
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection

from prometheus_client import REGISTRY, generate_latest

from trova.api.logs import configure_logging
from trova.batches.step import BatchStep
from trova.erasure.retention import retention_loop
from trova.finder.service import Finder
from trova.jobs.notify import (
    listen_for_work,
    notify_work,
    receive_wakeups,
    relay_wakeups,
    stop_relaying,
    wakeup_socket,
)
from trova.jobs.service import worker_loop
from trova.lifeline import die_with_parent, supervise
from trova.metrics import add_child, remove_child
from trova.settings import Settings
from trova.sources import waterfall
from trova.store import Database, utcnow
from trova.webhooks.sender import run_sender

log = logging.getLogger("trova.runtime")

BackgroundLoop = Callable[[Settings, Database, threading.Event], None]

HOUSEKEEPING_INTERVAL_S = 600.0
WORKER_STOP_GRACE_S = 25.0
"""How long the worker child of ``trova serve`` may take to finish its chunks after SIGTERM."""
METRICS_TIMEOUT_S = 2.0


def idempotency_housekeeping_loop(settings: Settings, db: Database, stop: threading.Event) -> None:
    """Forget ``Idempotency-Key`` responses older than ``TROVA_IDEMPOTENCY_TTL_S`` every ten minutes.

    Expired keys are already ignored when reused; this only keeps the table from growing forever.
    """
    from trova.api.service import forget_expired

    while not stop.wait(HOUSEKEEPING_INTERVAL_S):
        try:
            with db.write() as conn:
                forget_expired(conn, now=utcnow(), ttl_s=settings.idempotency_ttl_s)
        except Exception:
            log.exception("idempotency housekeeping failed")


BACKGROUND_LOOPS: list[BackgroundLoop] = [idempotency_housekeeping_loop]
"""Extra loops every worker-running process starts (webhook sender, retention, …): append to it."""


def register_loop(loop: BackgroundLoop) -> BackgroundLoop:
    """Add ``loop`` to :data:`BACKGROUND_LOOPS` (usable as a decorator); idempotent."""
    if loop not in BACKGROUND_LOOPS:
        BACKGROUND_LOOPS.append(loop)
    return loop


register_loop(run_sender)
register_loop(listen_for_work)
register_loop(retention_loop)


def batch_worker(settings: Settings, db: Database, stop: threading.Event, *, slot: int = 0) -> None:
    """One worker thread: runs the batch job step with its own finder, whose upstream is the
    waterfall configured in ``settings`` (none when only the local store is), until ``stop``."""
    finder = Finder(
        db,
        waterfall.from_settings(db, settings),
        exclude_do_not_call=settings.exclude_do_not_call,
        nicknames=settings.nicknames,
    )
    worker_loop(settings, db, stop, BatchStep(db, settings, finder), slot=slot)


def database_for(settings: Settings) -> Database:
    """The process's database, its pool sized for the API threads plus the worker threads."""
    return Database(
        settings.database_url,
        pool_size=max(10, 2 * settings.worker_concurrency + 4),
        busy_timeout_s=settings.db_busy_timeout_s,
        unavailable_errors=True,
    )


class Runtime:
    """Starts and stops the background threads of one process, or the child process running them."""

    def __init__(
        self, settings: Settings, db: Database, *, workers: bool = True, child: bool = False
    ) -> None:
        self.settings = settings
        self.db = db
        self.workers = workers
        self.child = child
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []
        self.wake_address: str | None = None
        """Where the worker child receives wake-ups (``child=True``, once started): every API
        process of ``serve --workers N`` is given it (``jobs.notify.relay_wakeups``)."""

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        def guarded() -> None:
            try:
                target()
            except Exception:
                log.exception("background loop %s stopped with an error", name)

        thread = threading.Thread(target=guarded, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def start(self) -> Runtime:
        """Start the worker threads and every registered background loop (none with ``workers=False``),
        or with ``child=True`` the thread supervising the child process that runs them."""
        if not self.workers:
            return self
        if self.child:
            wakeups, self.wake_address = wakeup_socket()
            address = self.wake_address
            self._spawn("trova-workers", lambda: self._supervise_child(wakeups, address))
            return self
        for slot in range(self.settings.worker_concurrency):
            self._spawn(
                f"worker-{slot}",
                lambda slot=slot: batch_worker(self.settings, self.db, self.stop_event, slot=slot),  # type: ignore[misc]
            )
        for loop in list(BACKGROUND_LOOPS):
            name = getattr(loop, "__name__", "loop")
            self._spawn(name, lambda loop=loop: loop(self.settings, self.db, self.stop_event))  # type: ignore[misc]
        return self

    def _supervise_child(self, wakeups: socket.socket, address: str) -> None:
        context = multiprocessing.get_context("spawn")
        metrics_here, metrics_there = context.Pipe()
        relay = relay_wakeups(address)
        asked = threading.Lock()

        def child_metrics() -> bytes | None:
            with asked:
                while metrics_here.poll(0):  # a late answer to an earlier scrape, or a dead child's
                    metrics_here.recv_bytes()
                metrics_here.send_bytes(b"?")
                return metrics_here.recv_bytes() if metrics_here.poll(METRICS_TIMEOUT_S) else None

        add_child(child_metrics)
        try:
            supervise(
                worker_process,
                (self.settings, os.getpid(), wakeups, metrics_there),
                name="trova-workers",
                stop=self.stop_event,
                grace_s=WORKER_STOP_GRACE_S,
                daemon=False,  # it starts the webhook sender's process
            )
        finally:
            remove_child(child_metrics)
            stop_relaying(relay)
            for end in (metrics_here, metrics_there):
                end.close()
            wakeups.close()

    def stop(self, timeout_s: float = WORKER_STOP_GRACE_S + 5) -> None:
        """Ask every loop to stop and wait for them (a bounded time: they are daemon threads)."""
        self.stop_event.set()
        notify_work()
        for thread in self.threads:
            thread.join(timeout_s)
        self.threads.clear()


def run_workers(settings: Settings, db: Database, stop: threading.Event) -> None:
    """The worker threads and background loops of this process until ``stop`` is set (``trova
    worker``, and the worker child of ``trova serve``)."""
    runtime = Runtime(settings, db, workers=True).start()
    freeze_startup_objects()
    while not stop.wait(1.0):
        pass
    runtime.stop()


def _answer_metrics(conn: Connection) -> None:
    """Send this process's registry to the parent each time it asks (``trova.metrics``)."""
    while True:
        try:
            conn.recv_bytes()
            conn.send_bytes(generate_latest(REGISTRY))
        except (EOFError, OSError):
            return


def worker_process(settings: Settings, parent_pid: int, wakeups: socket.socket, metrics: Connection) -> None:
    """The worker child of ``trova serve`` (module docstring): dies with ``parent_pid``; SIGTERM
    lets the workers finish the chunks in hand."""
    die_with_parent(parent_pid)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    configure_logging(settings.log_level, settings.log_format)
    threading.Thread(target=receive_wakeups, args=(wakeups,), name="wakeups", daemon=True).start()
    threading.Thread(target=_answer_metrics, args=(metrics,), name="metrics", daemon=True).start()
    db = database_for(settings)
    try:
        run_workers(settings, db, stop)
    finally:
        db.dispose()


def freeze_startup_objects() -> None:
    """Exempt everything allocated at start-up from the cyclic garbage collector.

    Modules, phone-number metadata, the normalisers' tables and compiled SQL are hundreds of
    thousands of objects that live as long as the process. Every full collection walked them all,
    and a 3,000-search job step allocates enough to trigger collections: frozen, they are skipped
    (measured: POST→completed of a 3,000-search batch ~12 % faster).
    """
    gc.freeze()
