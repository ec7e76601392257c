"""The HTTP layer of ``trova serve`` under abuse (issue 17, defects 1 and 7): raw sockets against a
real server with small limits, once per HTTP protocol (``TROVA_HTTP_PROTOCOL``); every answer is
the JSON envelope, or the connection is closed."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import orjson
import pytest

from tests.api.conftest import Api, start_api

LIMITS = {"TROVA_MAX_HEADER_BYTES": "8192", "TROVA_CLIENT_TIMEOUT_S": "1"}


PROTOCOLS = ["h11", "httptools"]


@pytest.fixture(scope="module", params=PROTOCOLS)
def small(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    env = {**LIMITS, "TROVA_HTTP_PROTOCOL": request.param}
    instance = start_api(tmp_path_factory.mktemp("protocol"), env)
    yield instance
    instance.server.stop()


def exchange(api: Api, *parts: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``parts`` on one connection, read until the server closes it or answers in full."""
    with socket.create_connection(("127.0.0.1", api.server.port), timeout=30) as sock:
        for part in parts:
            try:
                sock.sendall(part)
            except (BrokenPipeError, ConnectionResetError):
                break
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines[0] else 0
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, body


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def assert_envelope(answer: tuple[int, dict[str, str], bytes], status: int, message: str) -> None:
    code, headers, body = answer
    assert (code, orjson.loads(body)) == (status, {"message": message})
    assert headers["content-type"] == "application/json"


def test_a_complete_header_over_the_limit_is_431(small: Api) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n"
    assert_envelope(exchange(small, request), 431, "Request header fields too large")


def test_a_header_that_never_ends_is_431_and_closed(small: Api) -> None:
    start = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: "
    answer = exchange(small, start, *([b"a" * 16_384] * 64))
    assert_envelope(answer, 431, "Request header fields too large")
    assert answer[1]["connection"] == "close"


def test_a_long_request_line_is_431(small: Api) -> None:
    request = b"GET /healthz?" + b"q" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    assert_envelope(exchange(small, request), 431, "Request header fields too large")


def test_headers_under_the_limit_are_served(small: Api) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Ok: " + b"a" * 4000 + b"\r\n\r\n"
    status, headers, _ = exchange(small, request)
    assert status == 200 and headers["content-type"] == "application/json"


def test_a_client_that_stops_sending_headers_gets_408(small: Api) -> None:
    answer = exchange(small, b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    assert_envelope(answer, 408, "Request timeout")


def test_a_connection_that_sends_nothing_gets_408(small: Api) -> None:
    assert_envelope(exchange(small), 408, "Request timeout")


def test_a_client_that_stops_sending_its_body_is_closed(small: Api) -> None:
    head = b"POST /phone/single HTTP/1.1\r\nHost: x\r\nx-api-key: k\r\nContent-Length: 100\r\n\r\n{"
    status, _, body = exchange(small, head)
    # the key is checked before the body is read: 401 at once, or a closed connection
    assert status in (0, 401) and (status == 0 or orjson.loads(body)["message"])


@pytest.mark.parametrize(
    "head",
    [
        b"POST /phone/single HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        b"POST /phone/single HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"POST /phone/single HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n12345",
        b"POST /phone/single HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Bad: a\x01b\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Bad: a\x00b\r\n\r\n",
        b"GARBAGE\r\n\r\n",
    ],
)
def test_protocol_errors_are_answered_in_the_envelope(small: Api, head: bytes) -> None:
    assert_envelope(exchange(small, head), 400, "Invalid HTTP request")


def test_a_websocket_upgrade_is_answered_as_plain_http(small: Api) -> None:
    request = (
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    status, headers, body = exchange(small, request)
    assert (status, headers["content-type"]) == (200, "application/json")
    assert orjson.loads(body)["status"] == "ok"


def test_a_header_that_never_ends_after_a_served_request_is_431(small: Api) -> None:
    served = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    start = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: "
    with socket.create_connection(("127.0.0.1", small.server.port), timeout=30) as sock:
        sock.sendall(served)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        sock.sendall(start)
        for _ in range(64):
            try:
                sock.sendall(b"a" * 16_384)
            except (BrokenPipeError, ConnectionResetError):
                break
        data = b""
        while chunk := _recv(sock):
            data += chunk
    assert data.startswith(b"HTTP/1.1 431")
    assert data.endswith(b'{"message":"Request header fields too large"}')


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except ConnectionResetError:
        return b""


def test_pipelined_requests_are_all_answered(small: Api) -> None:
    one = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", small.server.port), timeout=30) as sock:
        sock.sendall(one * 3 + b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := _recv(sock):
            data += chunk
    assert data.count(b"HTTP/1.1 200 OK") == 4


def test_a_body_sent_in_pieces_within_the_deadline_is_read(small: Api) -> None:
    body = b'{"linkedin_url": "not a url"}'
    head = b"POST /phone/single HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    answer = exchange(small, head, b"Content-Length: %d\r\n\r\n" % len(body), body[:5], body[5:])
    assert answer[0] == 401 and answer[1]["content-type"] == "application/json"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_past_the_connection_cap_a_new_connection_gets_503(tmp_path: Path, protocol: str) -> None:
    env = {**LIMITS, "TROVA_MAX_CONNECTIONS": "2", "TROVA_HTTP_PROTOCOL": protocol}
    api = start_api(tmp_path, env)
    try:
        held = [socket.create_connection(("127.0.0.1", api.server.port), timeout=30) for _ in range(2)]
        answer = exchange(api)
        assert_envelope(answer, 503, "Service temporarily unavailable")
        assert answer[1]["retry-after"] == "1"
        for sock in held:
            sock.close()
    finally:
        api.server.stop()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_every_process_of_serve_workers_keeps_the_limits(tmp_path: Path, protocol: str) -> None:
    env = {**LIMITS, "TROVA_HTTP_PROTOCOL": protocol}
    api = start_api(tmp_path, env, args=("serve", "--no-worker", "--workers", "2"))
    try:
        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            silent = list(pool.map(lambda _: exchange(api), range(8)))
        endless = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: "
        with ThreadPoolExecutor(8) as pool:
            big = list(pool.map(lambda _: exchange(api, endless, *([b"a" * 16_384] * 16)), range(8)))
        for answer in silent:
            assert_envelope(answer, 408, "Request timeout")
        for answer in big:
            assert_envelope(answer, 431, "Request header fields too large")
        assert time.monotonic() - started < 20
    finally:
        api.server.stop()


def test_an_idle_connection_outlives_the_clients_reuse_window(small: Api) -> None:
    """httpx reuses an idle connection for 5 s (its default ``keepalive_expiry``): a server closing
    it at the same moment makes the client's next request fail with a reset instead of an answer."""
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    reuse_window_s = httpx.Limits().keepalive_expiry
    assert reuse_window_s is not None
    with socket.create_connection(("127.0.0.1", small.server.port), timeout=30) as sock:
        sock.sendall(request)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        time.sleep(reuse_window_s + 1)
        sock.sendall(request)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_an_idle_connection_is_closed_after_the_keep_alive_timeout(tmp_path: Path, protocol: str) -> None:
    env = {**LIMITS, "TROVA_KEEP_ALIVE_TIMEOUT_S": "1", "TROVA_HTTP_PROTOCOL": protocol}
    api = start_api(tmp_path, env)
    try:
        with socket.create_connection(("127.0.0.1", api.server.port), timeout=30) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
            assert _recv(sock) == b""
    finally:
        api.server.stop()
