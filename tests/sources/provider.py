"""Upstream providers for the source tests: real HTTP servers on loopback, in this process.

:class:`JsonProvider` is a generic JSON phone provider (the ``http`` kind): it answers from a table
keyed by last name (or LinkedIn key), records every request it receives (with its arrival time and
how many requests were in flight), and can be told to answer a fixed status, to be slow, or to fail
the first N requests. :class:`FakeEnrow` speaks the Enrow bulk contract with the same knobs, for the
failures a real Trova cannot be made to produce (402, 429, never finishing, toll-free answers).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    arrived: float
    in_flight: int


@dataclass
class Behaviour:
    status: int | None = None
    """Answer every request with this status (and an error body) instead of the table."""
    delay_s: float = 0.0
    fail_first: int = 0
    """Answer the first N requests with 500."""
    retry_after: str | None = None


@dataclass
class _State:
    received: list[Received] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Server:
    def __init__(self) -> None:
        self.state = _State()
        self.behaviour = Behaviour()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                parts = urlsplit(self.path)
                with outer.state.lock:
                    outer.state.in_flight += 1
                    outer.state.max_in_flight = max(outer.state.max_in_flight, outer.state.in_flight)
                    received = Received(
                        self.command,
                        parts.path,
                        parse_qs(parts.query),
                        dict(self.headers.items()),
                        body,
                        time.monotonic(),
                        outer.state.in_flight,
                    )
                    outer.state.received.append(received)
                    count = len(outer.state.received)
                try:
                    status, payload, headers = outer.answer(received, count)
                finally:
                    with outer.state.lock:
                        outer.state.in_flight -= 1
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = _handle
            do_POST = _handle
            do_PUT = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def received(self) -> list[Received]:
        with self.state.lock:
            return list(self.state.received)

    def answer(self, received: Received, count: int) -> tuple[int, Any, dict[str, str]]:
        behaviour = self.behaviour
        if behaviour.delay_s:
            time.sleep(behaviour.delay_s)
        if count <= behaviour.fail_first:
            return 500, {"message": "Internal server error"}, {}
        if behaviour.status is not None:
            headers = {"Retry-After": behaviour.retry_after} if behaviour.retry_after else {}
            return behaviour.status, {"message": f"status {behaviour.status}"}, headers
        return self.ok(received)

    def ok(self, received: Received) -> tuple[int, Any, dict[str, str]]:
        raise NotImplementedError

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class JsonProvider(_Server):
    """``GET /v1/person?...`` or ``POST /v1/person``: ``{"data": {"phones": [{"number", "kind", "seen"}]}}``,
    404 for people it does not know; the person is found by ``last`` (query) or ``last_name`` (body)."""

    def __init__(self) -> None:
        super().__init__()
        self.people: dict[str, list[dict[str, Any]]] = {}

    def ok(self, received: Received) -> tuple[int, Any, dict[str, str]]:
        key = (received.query.get("last") or [""])[0]
        if isinstance(received.body, dict):
            key = received.body.get("person", {}).get("last_name") or key
        phones = self.people.get(key)
        if phones is None:
            return 404, {"error": "unknown person"}, {}
        return 200, {"data": {"phones": phones}}, {}


class FakeEnrow(_Server):
    """The Enrow bulk contract: POST /phone/bulk, GET /phone/bulk?id=…; ``numbers`` by first name."""

    def __init__(self) -> None:
        super().__init__()
        self.numbers: dict[str, tuple[str, str]] = {}
        self.batches: dict[str, list[dict[str, Any]]] = {}
        self.never_finish = False
        self.credits_per_found = 40

    def ok(self, received: Received) -> tuple[int, Any, dict[str, str]]:
        if received.method == "POST":
            batch_id = str(uuid.uuid4())
            self.batches[batch_id] = list(received.body["searches"])
            return 201, {"message": "Bulk search operating", "id": batch_id, "credits_used": 0}, {}
        batch_id = received.query["id"][0]
        searches = self.batches[batch_id]
        general = {"id": batch_id, "status": "ongoing" if self.never_finish else "completed"}
        if self.never_finish:
            return 200, {"general": general, "stats": {"requested": len(searches), "finished": 0}}, {}
        results = []
        for index, search in enumerate(searches):
            result: dict[str, Any] = {"index": index, "params": search, "custom": search.get("custom")}
            number = self.numbers.get(search.get("first_name", ""))
            if number:
                result.update(qualification="found", number=number[0], country=number[1])
            else:
                result["qualification"] = "not_found"
            results.append(result)
        found = sum(1 for r in results if r["qualification"] == "found")
        stats = {
            "requested": len(searches),
            "finished": len(searches),
            "found": found,
            "credits_cost": found * self.credits_per_found,
        }
        return 200, {"general": general, "stats": stats, "results": results}, {}


@contextmanager
def running(server: _Server) -> Iterator[Any]:
    server.start()
    try:
        yield server
    finally:
        server.stop()
