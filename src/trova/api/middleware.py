"""The app's ASGI middleware: request counters per route (``MetricsMiddleware``) and the outer
guard of every request (``GuardMiddleware``: request id, header size, in-flight bound, one 500,
the access log line)."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from functools import cache
from random import getrandbits
from typing import Any

import anyio.to_thread
import orjson
from prometheus_client import Counter, Histogram
from starlette.requests import ClientDisconnect

from trova.api.logs import log_access, request_id_var
from trova.errors import HeadersTooLarge, InvalidHttpRequest, ServiceUnavailable

log = logging.getLogger("trova.api")

REQUESTS = Counter("trova_http_requests", "HTTP requests answered", ["method", "route", "status"])
LATENCY = Histogram(
    "trova_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


class MetricsMiddleware:
    """Counts requests and their latency per route template (unknown paths share one label)."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[..., Awaitable[Any]],
        send: Callable[..., Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            label = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            _count(method, label, status["code"]).inc()
            _timer(method, label).observe(time.perf_counter() - started)


@cache
def _count(method: str, route: str, status: int) -> Any:
    """The counter of these labels (``labels()`` takes a lock and builds a key on every call)."""
    return REQUESTS.labels(method, route, str(status))


@cache
def _timer(method: str, route: str) -> Any:
    """The latency histogram of these labels."""
    return LATENCY.labels(method, route)


# --- guard: request id, header size, in-flight bound, one JSON 500 ------------------------------

_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
"""Control bytes a header value may not hold (horizontal tab is allowed)."""

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
SPARE_THREADS = 8
"""Worker threads beyond one per admitted request (module docstring of ``GuardMiddleware``)."""

__all__ = ["GuardMiddleware", "MetricsMiddleware", "request_id_var"]


def _error(status: int, message: str, headers: list[tuple[bytes, bytes]]) -> tuple[dict[str, Any], bytes]:
    body = orjson.dumps({"message": message})
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *headers,
        ],
    }
    return start, body


class GuardMiddleware:
    """The outer guard of every request (module docstring of ``trova.api.app``):

    - gives it a request id (the client's ``X-Request-Id`` when it is 1 to 64 safe characters, else
      a new one), sent back in ``X-Request-Id`` and put on every log line written while answering;
    - refuses request line plus headers over ``max_header_bytes`` with 431, and a request with both
      ``Content-Length`` and ``Transfer-Encoding`` (no smuggling) or control bytes in a header with
      400, closing the connection;
    - answers 503 at once, with ``Retry-After``, past ``max_in_flight`` requests being answered;
    - turns any exception the app lets through into one logged line and a 500 in the JSON
      envelope with ``Connection: close`` (the connection is closed after it);
    - writes the access line of every answered request (``trova.api.logs``).

    It also gives the thread pool one thread per admitted request (plus ``SPARE_THREADS``): with
    anyio's default of 40, forty writes waiting for a database lock held by another process would
    leave reads (``/readyz``, GETs) queued behind them for a thread.
    """

    def __init__(
        self, app: Callable[..., Awaitable[None]], *, max_header_bytes: int, max_in_flight: int
    ) -> None:
        self.app = app
        self.max_header_bytes = max_header_bytes
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        self._threads_sized = False

    def _size_thread_pool(self) -> None:
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = max(limiter.total_tokens, self.max_in_flight + SPARE_THREADS)
        self._threads_sized = True

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[..., Awaitable[Any]],
        send: Callable[..., Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self._threads_sized:
            self._size_thread_pool()
        begun = time.perf_counter()
        given = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"").decode("latin-1")
        request_id = given if _REQUEST_ID.match(given) else f"{getrandbits(128):032x}"
        token = request_id_var.set(request_id)
        id_header = (b"x-request-id", request_id.encode())
        started = False
        status = 0

        async def send_with_id(message: MutableMapping[str, Any]) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                message["headers"] = [*message.get("headers", []), id_header]
            await send(message)

        async def refuse(status: int, message: str, *extra: tuple[bytes, bytes]) -> None:
            start, body = _error(status, message, [*extra])
            await send_with_id(start)
            await send({"type": "http.response.body", "body": body})

        try:
            size = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
            size += sum(len(name) + len(value) + 4 for name, value in scope["headers"])
            if size > self.max_header_bytes:
                log.info("431: request line and headers of %s bytes", size)
                await refuse(431, HeadersTooLarge.message, (b"connection", b"close"))
                return
            names = {name for name, _ in scope["headers"]}
            smuggling = b"content-length" in names and b"transfer-encoding" in names
            if smuggling or any(_CONTROL_BYTES.search(value) for _, value in scope["headers"]):
                log.info("400: control bytes in a header, or Content-Length with Transfer-Encoding")
                await refuse(400, InvalidHttpRequest.message, (b"connection", b"close"))
                return
            if self.in_flight >= self.max_in_flight:
                log.warning("over %s requests in flight: answered 503", self.max_in_flight)
                await refuse(503, ServiceUnavailable.message, (b"retry-after", b"1"))
                return
            self.in_flight += 1
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                self.in_flight -= 1
        except ClientDisconnect:
            log.info("client left before its request was read: %s %s", scope.get("method"), scope.get("path"))
        except Exception as error:
            if started:
                raise
            log.error("unhandled error in %s %s", scope.get("method"), scope.get("path"), exc_info=error)
            await refuse(500, "Internal server error", (b"connection", b"close"))
        finally:
            if status:
                method, path = scope.get("method", ""), scope.get("path", "")
                log_access(method, path, scope.get("query_string", b""), status, begun)
            request_id_var.reset(token)
