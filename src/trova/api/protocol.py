"""The HTTP/1.1 connection handlers ``trova serve`` runs: uvicorn's httptools or h11 protocol
(``TROVA_HTTP_PROTOCOL``, default httptools) with Trova's limits.

Why not uvicorn's protocols as they are: httptools (uvicorn's default when installed) has no bound
on the size of a request line or of headers, so one client sending an endless header would grow the
process without limit. :class:`TrovaHttpToolsProtocol` counts the bytes received since a request
began until its head ends and answers 431 past ``TROVA_MAX_HEADER_BYTES``, so at most that plus one
read is held; h11 bounds the same with ``max_incomplete_event_size``
(:class:`TrovaH11Protocol`). Complete heads over the limit are refused by
:class:`~trova.api.middleware.GuardMiddleware`. httptools is the default because it parses in C:
a request costs the server about a fifth less CPU than with h11 on ``/account/info``, about half on
``/healthz`` (issue #18); h11 stays one setting away.

On top of uvicorn's protocol each class adds what it lacks (:class:`_TrovaConnection`):

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
from typing import Any, cast

import h11
import orjson
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from trova.errors import ApiError, HeadersTooLarge, InvalidHttpRequest, RequestTimeout, ServiceUnavailable
from trova.settings import Settings

log = logging.getLogger("trova.api")

_REASONS = {
    400: b"Bad Request",
    408: b"Request Timeout",
    431: b"Request Header Fields Too Large",
    503: b"Service Unavailable",
}


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


class _TrovaConnection(asyncio.Protocol):
    """What Trova adds to either of uvicorn's HTTP/1.1 protocols (module docstring): the connection
    cap, the request deadline, one write per loop turn, protocol errors in the JSON envelope. The
    protocol tells where the client is in its request (:meth:`_awaiting_client`,
    :meth:`_waiting_stage`). ``client_timeout_s`` and ``max_connections`` are set by
    :func:`bind_limits` or :func:`protocol_class`."""

    client_timeout_s: float = 30.0
    max_connections: int = 1000
    _deadline: asyncio.TimerHandle | None = None

    # what uvicorn's protocols set
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    server_state: ServerState
    client: tuple[str, int] | None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        coalescing: Any = CoalescingTransport(cast(asyncio.Transport, transport), self.loop)
        super().connection_made(coalescing)
        if len(self.server_state.connections) > self.max_connections:
            log.warning("over %s open connections: answered 503", self.max_connections)
            self._answer_and_close(ServiceUnavailable(), {"Retry-After": "1"})
            return
        self._arm_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        super().data_received(data)
        if self._awaiting_client() and not self.transport.is_closing():
            self._arm_deadline()
        else:
            self._disarm_deadline()

    def _awaiting_client(self) -> bool:
        """The client has begun no request since the last one, or not finished sending one."""
        raise NotImplementedError

    def _waiting_stage(self) -> str | None:
        """``"request"`` when no answer is under way and the client has not sent a whole head,
        ``"body"`` while it sends a body, else None (the deadline then does nothing)."""
        raise NotImplementedError

    def _protocol_error(self, error: ApiError, cause: object) -> None:
        log.info("%s from %s: %s", error.status_code, _peer(self.client), cause)
        self._answer_and_close(error)

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
        stage = self._waiting_stage()
        if stage == "request":
            log.info("408 to %s: request not sent within %ss", _peer(self.client), self.client_timeout_s)
            self._answer_and_close(RequestTimeout())
        elif stage == "body":
            log.info("closed %s: body not sent within %ss", _peer(self.client), self.client_timeout_s)
            self.transport.close()


def head_limit(config: Config) -> int:
    """The most bytes of an unfinished request line and headers (``TROVA_MAX_HEADER_BYTES``, carried
    by uvicorn's ``h11_max_incomplete_event_size`` to either protocol)."""
    return config.h11_max_incomplete_event_size or 16 * 1024


class _Connection(h11.Connection):
    """h11's connection that remembers the protocol error it raised (its status hint: 400 or 431)."""

    last_error: h11.RemoteProtocolError | None = None

    def next_event(self) -> Any:
        try:
            return super().next_event()
        except h11.RemoteProtocolError as error:
            self.last_error = error
            raise


class TrovaH11Protocol(_TrovaConnection, H11Protocol):
    """uvicorn's h11 protocol with Trova's limits (module docstring); h11 bounds the incomplete head."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.conn: _Connection = _Connection(h11.SERVER, head_limit(config))

    def send_400_response(self, msg: str) -> None:
        error = self.conn.last_error
        status = getattr(error, "error_status_hint", 400)
        self._protocol_error(HeadersTooLarge() if status == 431 else InvalidHttpRequest(), error or msg)

    def _awaiting_client(self) -> bool:
        return self.conn.their_state in (h11.IDLE, h11.SEND_BODY)

    def _waiting_stage(self) -> str | None:
        state = self.conn.their_state
        if state is h11.IDLE and self.conn.our_state is h11.IDLE:
            return "request"
        return "body" if state is h11.SEND_BODY else None


class TrovaHttpToolsProtocol(_TrovaConnection, HttpToolsProtocol):
    """uvicorn's httptools protocol with Trova's limits (module docstring). httptools buffers a
    request line and headers until they end without any bound, so this class counts the bytes of
    the head still incomplete and answers 431 past ``TROVA_MAX_HEADER_BYTES``."""

    _stage = "idle"  # idle (nothing yet) | head | body | done (request received)
    _head_bytes = 0
    _begun = 0  # requests begun in the data being parsed

    def data_received(self, data: bytes) -> None:
        before, self._begun = self._stage, 0
        super().data_received(data)
        if self._stage != "head" or self.transport.is_closing():
            return
        if before == "head":
            self._head_bytes += len(data)
        elif self._begun == 1 and before in ("idle", "done"):
            self._head_bytes = len(data)
        else:  # the data ended an earlier request too: count what the parser gave of this head
            self._head_bytes = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if self._head_bytes > head_limit(self.config):
            self._protocol_error(HeadersTooLarge(), f"{self._head_bytes} bytes of head, not ended")

    def send_400_response(self, msg: str) -> None:
        self._protocol_error(InvalidHttpRequest(), msg)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._stage, self._begun = "head", self._begun + 1

    def on_headers_complete(self) -> None:
        self._stage = "body"
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._stage = "done"
        super().on_message_complete()

    def _awaiting_client(self) -> bool:
        return self._stage != "done"

    def _waiting_stage(self) -> str | None:
        if self._stage in ("idle", "head") and (self.cycle is None or self.cycle.response_complete):
            return "request"
        return "body" if self._stage == "body" else None


def _peer(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "unknown client"


PROTOCOLS: dict[str, type[_TrovaConnection]] = {"h11": TrovaH11Protocol, "httptools": TrovaHttpToolsProtocol}
"""The protocol class of each value of ``TROVA_HTTP_PROTOCOL``."""


def protocol_class(name: str, *, client_timeout_s: float, max_connections: int) -> type[_TrovaConnection]:
    """The protocol ``name`` (:data:`PROTOCOLS`) bound to these limits (uvicorn builds one instance
    per connection)."""
    base = PROTOCOLS[name]
    return type(
        f"Bound{base.__name__}",
        (base,),
        {"client_timeout_s": client_timeout_s, "max_connections": max_connections},
    )


def bind_limits(settings: Settings) -> None:
    """Set the limits on both protocol classes themselves: in each process of ``serve --workers N``,
    which imports its class by name (a class built by :func:`protocol_class` cannot be pickled)."""
    _TrovaConnection.client_timeout_s = settings.client_timeout_s
    _TrovaConnection.max_connections = settings.max_connections


def uvicorn_options(settings: Settings, *, by_name: bool = False) -> dict[str, Any]:
    """The ``uvicorn.Config`` options that run ``TROVA_HTTP_PROTOCOL`` with Trova's connection limits
    (module docstring); ``by_name`` for several processes, each calling :func:`bind_limits`.
    ``h11_max_incomplete_event_size`` carries ``TROVA_MAX_HEADER_BYTES`` to either protocol,
    ``timeout_keep_alive`` ``TROVA_KEEP_ALIVE_TIMEOUT_S`` (:class:`~trova.settings.Settings`); ``ws`` is
    off, since Trova serves no WebSocket and uvicorn's WebSocket protocols, handed an ``Upgrade``
    request, would leave Trova's deadline and connection cap behind."""
    name = settings.http_protocol
    http: Any = f"{__name__}:{PROTOCOLS[name].__name__}"
    if not by_name:
        timeout_s, most = settings.client_timeout_s, settings.max_connections
        http = protocol_class(name, client_timeout_s=timeout_s, max_connections=most)
    return {
        "http": http,
        "ws": "none",
        "h11_max_incomplete_event_size": settings.max_header_bytes,
        "timeout_keep_alive": settings.keep_alive_timeout_s,
        "server_header": False,
    }
