"""Retries, backoff and tolerant parsing, against a real loopback HTTP server that answers from a script
(the way Enrow, a proxy or a failing server would)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.support.servers import free_port
from trova.client import ApiError, Client, RetryPolicy, TransportError

FAST = RetryPolicy(max_attempts=4, backoff_base_s=0.0)


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class ScriptedServer:
    """Answers each request with the next scripted reply; records every request."""

    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.seen: list[Seen] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                server.seen.append(
                    Seen(
                        self.command,
                        self.path,
                        {k.lower(): v for k, v in self.headers.items()},
                        self.rfile.read(length),
                    )
                )
                reply = server.replies.pop(0)
                payload = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _answer

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture
def scripted() -> Iterator[ScriptedServer]:
    server = ScriptedServer()
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


CREATED = {
    "message": "Bulk search operating",
    "id": "b-1",
    "credits_used": 80,
    "estimated_duration": 2,
    "credits": {"amount": 80, "source": "sub", "split": {"fromSub": 80, "fromPaygo": 0}},
    "brand_new_field": {"x": 1},
}


def test_get_is_retried_on_5xx_and_extra_fields_are_ignored(scripted: ScriptedServer) -> None:
    scripted.replies = [
        Reply(503, {"message": "down"}),
        Reply(502, raw=b"<html>bad gateway</html>"),
        Reply(200, {"credits": 360, "webhooks": ["https://h.example/x"], "plan": "pro"}),
    ]
    with Client("key-1", scripted.url, retry=FAST) as client:
        info = client.account()
    assert (info.credits, info.webhooks, info.credits_sub) == (360, ("https://h.example/x",), None)
    assert len(scripted.seen) == 3
    assert all(s.headers["x-api-key"] == "key-1" and "authorization" not in s.headers for s in scripted.seen)


def test_each_retry_is_announced_with_its_reason_and_delay(scripted: ScriptedServer) -> None:
    scripted.replies = [
        Reply(429, {"message": "Rate limit exceeded"}, {"Retry-After": "0"}),
        Reply(503, {"message": "down"}),
        Reply(200, {"credits": 1, "webhooks": []}),
    ]
    announced: list[tuple[str, float]] = []
    with Client("k", scripted.url, retry=FAST, on_retry=lambda r, d: announced.append((r, d))) as client:
        client.account()
    assert announced == [("429: Rate limit exceeded", 0.0), ("503: down", 0.0)]


def test_a_retried_post_repeats_its_idempotency_key_and_body(scripted: ScriptedServer) -> None:
    scripted.replies = [Reply(500, {"message": "Internal server error"}), Reply(201, CREATED)]
    with Client("k", scripted.url, retry=FAST) as client:
        submission = client.submit_bulk([{"linkedin_url": "linkedin.com/in/a"}, {"linkedin_url": "x"}])
    assert (submission.id, submission.credits_used, submission.estimated_duration_min) == ("b-1", 80, 2)
    assert submission.credits is not None and submission.credits.from_sub == 80
    first, second = scripted.seen
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]
    assert first.body == second.body
    assert json.loads(first.body) == {
        "searches": [{"linkedin_url": "linkedin.com/in/a"}, {"linkedin_url": "x"}]
    }


def test_each_post_has_its_own_idempotency_key(scripted: ScriptedServer) -> None:
    scripted.replies = [Reply(201, CREATED), Reply(201, CREATED)]
    with Client("k", scripted.url, retry=FAST) as client:
        client.find({"linkedin_url": "linkedin.com/in/a"}, webhook="https://h.example/hook")
        client.find({"linkedin_url": "linkedin.com/in/a"})
    keys = {s.headers["idempotency-key"] for s in scripted.seen}
    assert len(keys) == 2
    assert json.loads(scripted.seen[0].body)["settings"] == {"webhook": "https://h.example/hook"}


def test_post_is_not_resent_after_a_5xx_when_the_server_ignores_idempotency_keys(
    scripted: ScriptedServer,
) -> None:
    scripted.replies = [Reply(503, {"message": "Service unavailable"})]
    with (
        Client("k", scripted.url, retry=FAST, retry_unsafe_posts=False) as client,
        pytest.raises(ApiError) as err,
    ):
        client.submit_bulk([{"linkedin_url": "linkedin.com/in/a"}])
    assert (err.value.status, err.value.message) == (503, "Service unavailable")
    assert len(scripted.seen) == 1


def test_a_429_is_always_retried_because_nothing_was_created(scripted: ScriptedServer) -> None:
    scripted.replies = [
        Reply(429, {"message": "Rate limit exceeded"}, {"Retry-After": "0"}),
        Reply(201, CREATED),
    ]
    with Client("k", scripted.url, retry=FAST, retry_unsafe_posts=False) as client:
        assert client.submit_bulk([{"linkedin_url": "linkedin.com/in/a"}]).id == "b-1"
    assert len(scripted.seen) == 2


def test_enrow_is_never_sent_a_post_twice_by_default() -> None:
    assert Client("k", "https://api.enrow.io").config.retry_unsafe_posts is False
    assert Client("k", "https://trova.example.com").config.retry_unsafe_posts is True


def test_retries_give_up_with_the_last_error(scripted: ScriptedServer) -> None:
    scripted.replies = [Reply(500, raw=b"")] * FAST.max_attempts
    with Client("k", scripted.url, retry=FAST) as client, pytest.raises(ApiError) as err:
        client.get_bulk("b-1")
    assert err.value.status == 500 and err.value.message == "Internal Server Error"
    assert len(scripted.seen) == FAST.max_attempts


def test_a_server_that_is_not_there_is_a_transport_error_at_once() -> None:
    """Connection refused is not retried: the same answer would come after a minute of backoff."""
    announced: list[tuple[str, float]] = []
    url = f"http://127.0.0.1:{free_port()}"
    with (
        Client("k", url, on_retry=lambda r, d: announced.append((r, d))) as client,
        pytest.raises(TransportError, match=r"cannot reach http://127\.0\.0\.1:\d+: .*[Cc]onnection refused"),
    ):
        client.account()
    assert announced == []


def test_a_2xx_that_is_not_the_contract_is_an_api_error(scripted: ScriptedServer) -> None:
    scripted.replies = [Reply(200, raw=b"<html>captive portal</html>")]
    with Client("k", scripted.url, retry=FAST) as client, pytest.raises(ApiError, match="unexpected answer"):
        client.account()
