"""The sender: claims due messages, POSTs them signed, records every attempt.

``trova serve`` and ``trova worker`` start it through :func:`run_sender` in a child process of its
own, where one asyncio loop and one ``httpx.AsyncClient`` carry every delivery: slow receivers cost
sockets, not threads, and none of it competes with the API for the interpreter lock. At most
``TROVA_WEBHOOK_CONCURRENCY`` deliveries are in flight: the loop only claims as many messages as it
has free slots, so nothing sits leased while waiting its turn. Database work runs on one thread of
its own, off the event loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import email.utils
import logging
import os
import signal
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from typing import TypeVar

import httpcore
import httpx
import orjson

from trova import __version__
from trova.errors import AddressRefused
from trova.lifeline import supervise
from trova.settings import Settings
from trova.store import Database, utcnow
from trova.webhooks import service
from trova.webhooks.guard import GuardedNetworkBackend, delivery_refusal
from trova.webhooks.models import EXCERPT_BYTES, Message, Outcome, SigningSecrets, Verdict
from trova.webhooks.signing import signed_headers

log = logging.getLogger("trova.webhooks")

T = TypeVar("T")
Claimed = tuple[Message, SigningSecrets | None]

LEASE_MARGIN_S = 30.0
"""A claimed message stays leased for the timeout plus this margin: long enough for one attempt and
its record, short enough that a killed sender's messages are picked up again within a minute."""

SHUTDOWN_GRACE_S = 5.0
PARENT_CHECK_S = 0.5
RESTART_DELAY_S = 1.0
USER_AGENT = f"Trova-Webhooks/{__version__}"


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a connection pool whose sockets only go to vetted addresses.

    httpx does not let a network backend be passed in, so the pool it builds is replaced by the
    same pool built with :class:`~trova.webhooks.guard.GuardedNetworkBackend`. Proxies from the
    environment are ignored on purpose: a proxy would connect on our behalf, unchecked.

    Connections are not kept alive: httpcore's pool scans every idle connection (a ``select`` on
    each, in a quadratic loop) whenever a request starts or ends, which with fifty connections cost
    three times the CPU of opening a fresh connection per attempt (bench/webhooks.py). Each attempt
    also re-resolves and re-vets the host this way.
    """

    def __init__(
        self, *, allow_private: bool, max_connections: int, ssl_context: ssl.SSLContext | None = None
    ):
        super().__init__(trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(trust_env=False),
            max_connections=max_connections,
            max_keepalive_connections=0,
            network_backend=GuardedNetworkBackend(allow_private=allow_private),
        )


def new_client(settings: Settings, *, ssl_context: ssl.SSLContext | None = None) -> httpx.AsyncClient:
    """The client every delivery goes through: guarded, no redirects, no environment proxies."""
    transport = GuardedTransport(
        allow_private=settings.webhook_allow_private,
        max_connections=settings.webhook_concurrency,
        ssl_context=ssl_context,
    )
    return httpx.AsyncClient(
        transport=transport,
        follow_redirects=False,
        trust_env=False,
        timeout=httpx.Timeout(settings.webhook_timeout_s),
        headers={"user-agent": USER_AGENT},
    )


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), None if absent/invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _verdict(status_code: int) -> Verdict:
    if 200 <= status_code < 300:
        return "delivered"
    if status_code == 410:
        return "stop"
    return "retry"


def _http_error(status_code: int, location: str | None) -> str | None:
    if 200 <= status_code < 300:
        return None
    if 300 <= status_code < 400:
        return f"HTTP {status_code}: redirect to {location or '(no location)'} not followed"
    if status_code == 410:
        return "HTTP 410 Gone: the receiver asked to stop"
    return f"HTTP {status_code}"


def _excerpt(data: bytes) -> str | None:
    """The answer's first bytes as text (undecodable bytes become U+FFFD)."""
    return data[:EXCERPT_BYTES].decode("utf-8", "replace") if data else None


async def _read_excerpt(response: httpx.Response, into: bytearray) -> None:
    """Read the answer into ``into`` until it holds ``EXCERPT_BYTES`` (what arrived stays if cut short)."""
    async for chunk in response.aiter_raw():
        into += chunk[: EXCERPT_BYTES - len(into)]
        if len(into) >= EXCERPT_BYTES:
            return


async def send_once(
    client: httpx.AsyncClient, message: Message, signing: SigningSecrets, settings: Settings
) -> Outcome:
    """POST ``message`` once and say what happened; never raises for anything the network does.

    Success is a 2xx whose status line arrives within ``TROVA_WEBHOOK_TIMEOUT_S`` (the whole
    exchange, resolution and connection included, is bounded by it). Up to ``EXCERPT_BYTES`` of the
    answer are kept for the attempt row; a slow body after a 2xx does not undo the success.
    """
    attempted_at = utcnow()
    started = time.monotonic()
    status_code: int | None = None
    location: str | None = None
    retry_after: float | None = None

    def outcome(
        verdict: Verdict, error: str | None, status_code: int | None = None, answer: bytes = b""
    ) -> Outcome:
        return Outcome(
            verdict=verdict,
            attempted_at=attempted_at,
            latency_ms=int((time.monotonic() - started) * 1000),
            status_code=status_code,
            error=error,
            response_excerpt=_excerpt(answer),
            retry_after_s=retry_after,
        )

    refusal = delivery_refusal(message.url, settings)
    if refusal is not None:
        return outcome("stop", refusal)
    body = orjson.dumps(message.payload)
    headers = {
        "content-type": "application/json",
        "accept-encoding": "identity",
        **signed_headers(message.id, body, signing, attempted_at),
    }
    answer = bytearray()
    try:
        async with asyncio.timeout(settings.webhook_timeout_s):
            async with client.stream("POST", message.url, content=body, headers=headers) as response:
                status_code = response.status_code
                location = response.headers.get("location")
                retry_after = parse_retry_after(response.headers.get("retry-after"))
                await _read_excerpt(response, answer)
    except AddressRefused as exc:
        return outcome("stop", exc.reason)
    except httpx.InvalidURL as exc:
        return outcome("stop", f"invalid webhook URL: {exc}")
    except (TimeoutError, httpx.TimeoutException):
        if status_code is None:
            return outcome("retry", f"timed out after {settings.webhook_timeout_s:g} s")
    except (httpx.HTTPError, OSError) as exc:
        if status_code is None:
            return outcome("retry", f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    assert status_code is not None
    return outcome(_verdict(status_code), _http_error(status_code, location), status_code, bytes(answer))


class Sender:
    """One process's sender: the loop, its in-flight deliveries and the outcomes waiting to be written.

    ``owner`` identifies this sender's leases; a message whose lease expired (its sender was killed)
    is claimed again by any sender, with the same message id, hence the same ``webhook-id``.

    The loop works in rounds: one write transaction records every attempt finished since the last
    round and claims as many due messages as there are free slots. When fifty deliveries end in the
    same instant that is one transaction, not a hundred, which is what keeps a slow receiver's
    backlog flowing at the concurrency limit and the database free for the API.
    """

    def __init__(
        self, settings: Settings, db: Database, *, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.settings = settings
        self.db = db
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.ssl_context = ssl_context
        self.lease_s = settings.webhook_timeout_s + LEASE_MARGIN_S
        self._db_thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="webhooks-db")
        self._inflight: dict[asyncio.Task[None], str] = {}
        self._finished: list[tuple[Message, Outcome]] = []
        self._wake: asyncio.Event | None = None

    async def _in_db(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._db_thread, fn)

    def _round(self, finished: list[tuple[Message, Outcome]], free: int) -> list[Claimed]:
        """Record ``finished`` and claim up to ``free`` messages, in one write transaction.

        With nothing to record, a read first checks that something is due: an idle sender then
        never takes SQLite's single write lock.
        """
        if not finished:
            if free <= 0:
                return []
            with self.db.read() as conn:
                if not service.anything_due(conn):
                    return []
        with self.db.write() as conn:
            for message, outcome in finished:
                service.record_outcome(conn, message, outcome, owner=self.owner, settings=self.settings)
            if free <= 0:
                return []
            messages = service.claim(conn, owner=self.owner, limit=free, lease_s=self.lease_s)
            now = utcnow()
            secrets = {
                account_id: service.signing_secrets(conn, account_id, now)
                for account_id in {m.account_id for m in messages}
            }
            return [(m, secrets[m.account_id]) for m in messages]

    def _release(self, message_ids: list[str]) -> None:
        with self.db.write() as conn:
            service.release(conn, owner=self.owner, message_ids=message_ids)

    async def _deliver(
        self, client: httpx.AsyncClient, message: Message, signing: SigningSecrets | None
    ) -> None:
        if signing is None:
            outcome = Outcome(
                verdict="stop", attempted_at=utcnow(), latency_ms=0, error="account no longer exists"
            )
        else:
            outcome = await self._send(client, message, signing)
        self._finished.append((message, outcome))
        if outcome.verdict != "delivered":
            log.info("webhook %s to %s: %s", message.id, message.url, outcome.error)

    async def _send(self, client: httpx.AsyncClient, message: Message, signing: SigningSecrets) -> Outcome:
        """One attempt; a bug of ours becomes a recorded, retried attempt instead of a stuck lease."""
        try:
            return await send_once(client, message, signing, self.settings)
        except Exception as exc:
            log.exception("sending webhook %s failed unexpectedly", message.id)
            return Outcome(
                verdict="retry", attempted_at=utcnow(), latency_ms=0, error=f"internal error: {exc!r}"
            )

    def _start(self, client: httpx.AsyncClient, message: Message, signing: SigningSecrets | None) -> None:
        task = asyncio.create_task(self._deliver(client, message, signing))
        self._inflight[task] = message.id
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.pop(task, None)
        if self._wake is not None:
            self._wake.set()

    async def _run_round(self, client: httpx.AsyncClient, *, claim: bool = True) -> None:
        finished, self._finished = self._finished, []
        free = self.settings.webhook_concurrency - len(self._inflight) if claim else 0
        try:
            claimed = await self._in_db(lambda: self._round(finished, free))
        except Exception:
            log.exception("webhook outbox round failed; will try again")
            self._finished = finished + self._finished
            return
        for message, signing in claimed:
            self._start(client, message, signing)

    async def run(self, stop: threading.Event) -> None:
        """Deliver until ``stop`` is set, then finish or hand back what is in flight."""
        self._wake = asyncio.Event()
        try:
            async with new_client(self.settings, ssl_context=self.ssl_context) as client:
                try:
                    while not stop.is_set():
                        self._wake.clear()
                        await self._run_round(client)
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._wake.wait(), self.settings.webhook_poll_interval_s)
                finally:
                    await self._shutdown(client)
        finally:
            self._db_thread.shutdown(wait=True)

    async def _shutdown(self, client: httpx.AsyncClient) -> None:
        """Let in-flight deliveries finish briefly, record them; cancel the rest and release their leases."""
        unfinished: list[str] = []
        if self._inflight:
            _done, pending = await asyncio.wait(list(self._inflight), timeout=SHUTDOWN_GRACE_S)
            unfinished = [self._inflight[task] for task in pending if task in self._inflight]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._finished:
            await self._run_round(client, claim=False)
        if unfinished:
            await self._in_db(lambda: self._release(unfinished))


def run_sender_in_thread(settings: Settings, db: Database, stop: threading.Event) -> None:
    """Run a sender on the calling thread until ``stop`` is set."""
    asyncio.run(Sender(settings, db).run(stop))


def _watch_parent(parent_pid: int, stop: threading.Event) -> None:
    """Stop when the parent dies (even by SIGKILL): an orphaned sender must not outlive its server."""
    while not stop.wait(PARENT_CHECK_S):
        if os.getppid() != parent_pid:
            stop.set()


def _sender_process(settings: Settings, parent_pid: int) -> None:
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    threading.Thread(target=_watch_parent, args=(parent_pid, stop), daemon=True).start()
    db = Database(settings.database_url, pool_size=2)
    try:
        run_sender_in_thread(settings, db, stop)
    finally:
        db.dispose()


def run_sender(settings: Settings, db: Database, stop: threading.Event) -> None:
    """Background-loop entry point (``trova serve`` / ``trova worker``): deliver until ``stop`` is set.

    The sender runs in a child process of its own, restarted if it dies: its CPU (HTTP, signing,
    outbox writes) then never competes with the API for the interpreter lock, which is what keeps
    API latency flat while a thousand deliveries are in flight. ``db`` is not shared; the child
    opens its own connections to the same database.
    """
    supervise(
        _sender_process,
        (settings, os.getpid()),
        name="trova-webhooks",
        stop=stop,
        grace_s=SHUTDOWN_GRACE_S + 10,
        check_s=PARENT_CHECK_S,
        restart_delay_s=RESTART_DELAY_S,
    )
