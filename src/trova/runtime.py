"""The background loops of a process, started beside (or instead of) the HTTP API.

``trova serve`` runs the API plus ``TROVA_WORKER_CONCURRENCY`` worker threads plus every loop of
:data:`BACKGROUND_LOOPS`; ``serve --no-worker`` runs the API alone; ``trova worker`` runs the loops
without the API. Every loop takes a stop event and returns soon after it is set (SIGTERM sets it),
so a graceful stop finishes the chunk in hand; a hard kill is covered by the job leases.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable

from trova.batches.step import BatchStep
from trova.erasure.retention import retention_loop
from trova.finder.service import Finder
from trova.jobs.notify import listen_for_work, notify_work
from trova.jobs.service import worker_loop
from trova.settings import Settings
from trova.sources import waterfall
from trova.store import Database, utcnow
from trova.webhooks.sender import run_sender

log = logging.getLogger("trova.runtime")

BackgroundLoop = Callable[[Settings, Database, threading.Event], None]

HOUSEKEEPING_INTERVAL_S = 600.0


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
    """Starts and stops the background threads of one process."""

    def __init__(self, settings: Settings, db: Database, *, workers: bool = True) -> None:
        self.settings = settings
        self.db = db
        self.workers = workers
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []

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
        """Start the worker threads and every registered background loop (none with ``workers=False``)."""
        if not self.workers:
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

    def stop(self, timeout_s: float = 30.0) -> None:
        """Ask every loop to stop and wait for them (a bounded time: they are daemon threads)."""
        self.stop_event.set()
        notify_work()
        for thread in self.threads:
            thread.join(timeout_s)
        self.threads.clear()


def freeze_startup_objects() -> None:
    """Exempt everything allocated at start-up from the cyclic garbage collector.

    Modules, phone-number metadata, the normalisers' tables and compiled SQL are hundreds of
    thousands of objects that live as long as the process. Every full collection walked them all,
    and a 3,000-search job step allocates enough to trigger collections: frozen, they are skipped
    (measured: POST→completed of a 3,000-search batch ~12 % faster).
    """
    gc.freeze()
