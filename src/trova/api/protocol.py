"""The HTTP/1.1 connection handler ``trova serve`` runs: uvicorn's h11 protocol with Trova's limits.

Why h11 and not httptools (uvicorn's default when installed): httptools has no bound on the size of
a request line or of headers, so one client sending an endless header grows the process without
limit. h11 refuses a request whose line and headers, still incomplete, pass
``max_incomplete_event_size`` (``TROVA_MAX_HEADER_BYTES``); complete ones over the limit are refused
by :class:`~trova.api.middleware.GuardMiddleware`. h11 costs some throughput against httptools,
which one core of JSON and SQL work hides.

On top of uvicorn's protocol this class adds what it lacks:

- every protocol error is answered in the JSON envelope (431 for headers over the limit, else
  400 ``Invalid HTTP request``), never uvicorn's ``text/plain``, and the connection is closed;
- a client has ``TROVA_CLIENT_TIMEOUT_S`` to send a request (line, headers and body) once it starts
  one: a slow client gets 408 (or, mid-body, a closed connection) instead of holding it for ever;
- past ``TROVA_MAX_CONNECTIONS`` open connections, a new one is answered 503 at once and closed;
- what one turn of the event loop writes to a connection leaves in one write
  (:class:`CoalescingTransport`): uvicorn writes a response's head and its body separately, and on
  loopback each write is a system call and a packet the client wakes up for.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
import orjson
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from trova.errors import ApiError, HeadersTooLarge, InvalidHttpRequest, RequestTimeout, ServiceUnavailable
from trova.settings import Settings

log = logging.getLogger("trova.api")

_REASONS = {400: b"Bad Request", 408: b"Request Timeout", 431: b"Request Header Fields Too Large",
            503: b"Service Unavailable"}


def raw_error(error: ApiError, headers: dict[str, str] | None = None) -> bytes:
    """A complete HTTP/1.1 answer in the JSON envelope that closes the connection."""
    body = orjson.dumps({"message": error.message})
    lines = [
        b"HTTP/1.1 %d %s" % (error.status_code, _REASONS.get(error.status_code, b"Error")),
        b"content-type: application/json",
        b"content-length: %d" % len(body),
        b"connection: close",
        *(f"{name}: {value}".encode("latin-1") for name, value in (headers or {}).items()),
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class CoalescingTransport:
    """A connection's transport whose writes wait for the end of the event loop's turn, then leave
    joined in one write (module docstring). Closing first writes what waits; everything else is
    the transport's own."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(bytes(data))

    def flush(self) -> None:
        """Write what waits, in one write (nothing once the transport is closing)."""
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _Connection(h11.Connection):
    """h11's connection that remembers the protocol error it raised (its status hint: 400 or 431)."""

    last_error: h11.RemoteProtocolError | None = None

    def next_event(self) -> Any:
        try:
            return super().next_event()
        except h11.RemoteProtocolError as error:
            self.last_error = error
            raise


class TrovaH11Protocol(H11Protocol):
    """uvicorn's h11 protocol answering protocol errors in JSON, with a request deadline and a
    connection cap (module docstring). ``client_timeout_s`` and ``max_connections`` are set on the
    class by :func:`protocol_class`."""

    client_timeout_s: float = 30.0
    max_connections: int = 1000

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.conn: _Connection = _Connection(h11.SERVER, config.h11_max_incomplete_event_size or 16 * 1024)
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        coalescing: Any = CoalescingTransport(transport, self.loop)
        super().connection_made(coalescing)
        if len(self.connections) > self.max_connections:
            log.warning("over %s open connections: answered 503", self.max_connections)
            self._answer_and_close(ServiceUnavailable(), {"Retry-After": "1"})
            return
        self._arm_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state in (h11.IDLE, h11.SEND_BODY):
            self._arm_deadline()
        else:
            self._disarm_deadline()

    def send_400_response(self, msg: str) -> None:
        error = self.conn.last_error
        status = getattr(error, "error_status_hint", 400)
        answer: ApiError = HeadersTooLarge() if status == 431 else InvalidHttpRequest()
        log.info("%s from %s: %s", answer.status_code, _peer(self.client), error or msg)
        self._answer_and_close(answer)

    def _answer_and_close(self, error: ApiError, headers: dict[str, str] | None = None) -> None:
        self._disarm_deadline()
        if not self.transport.is_closing():
            self.transport.write(raw_error(error, headers))
            self.transport.close()

    def _arm_deadline(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.client_timeout_s, self._on_deadline)

    def _disarm_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _on_deadline(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        state = self.conn.their_state
        if state is h11.IDLE and self.conn.our_state is h11.IDLE:
            log.info("408 to %s: request not sent within %ss", _peer(self.client), self.client_timeout_s)
            self._answer_and_close(RequestTimeout())
        elif state is h11.SEND_BODY:
            log.info("closed %s: body not sent within %ss", _peer(self.client), self.client_timeout_s)
            self.transport.close()


def _peer(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "unknown client"


def protocol_class(*, client_timeout_s: float, max_connections: int) -> type[TrovaH11Protocol]:
    """:class:`TrovaH11Protocol` bound to these limits (uvicorn builds one instance per connection)."""
    return type(
        "BoundTrovaH11Protocol",
        (TrovaH11Protocol,),
        {"client_timeout_s": client_timeout_s, "max_connections": max_connections},
    )


def bind_limits(settings: Settings) -> None:
    """Set the limits on :class:`TrovaH11Protocol` itself: in each process of ``serve --workers N``,
    which imports the class by name (a class built by :func:`protocol_class` cannot be pickled)."""
    TrovaH11Protocol.client_timeout_s = settings.client_timeout_s
    TrovaH11Protocol.max_connections = settings.max_connections


def uvicorn_options(settings: Settings, *, by_name: bool = False) -> dict[str, Any]:
    """The ``uvicorn.Config`` options that apply Trova's connection limits (module docstring);
    ``by_name`` for several processes, each calling :func:`bind_limits`."""
    http: Any = f"{__name__}:TrovaH11Protocol"
    if not by_name:
        timeout_s, most = settings.client_timeout_s, settings.max_connections
        http = protocol_class(client_timeout_s=timeout_s, max_connections=most)
    return {
        "http": http,
        "h11_max_incomplete_event_size": settings.max_header_bytes,
        "server_header": False,
    }
