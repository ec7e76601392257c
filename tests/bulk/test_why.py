"""``trova bulk --why`` against servers that do and do not explain: a loopback server stands in for both."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import orjson
import pytest

from trova.bulk.why import UNEXPLAINED, explain_misses
from trova.client import Client


class Explainer(ThreadingHTTPServer):
    """Answers GET /phone/single/explain with the rule text ``rule <id>``, or 404 when ``explains`` is off."""

    def __init__(self, explains: bool) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.explains = explains
        self.asked: list[str] = []
        self.lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    server: Explainer

    def do_GET(self) -> None:
        url = urlparse(self.path)
        search_id = parse_qs(url.query)["id"][0]
        with self.server.lock:
            self.server.asked.append(search_id)
        if url.path == "/phone/single/explain" and self.server.explains:
            status, body = 200, {"id": search_id, "explanation": {
                "rule": "no_person", "rule_text": f"rule {search_id} (docs/finder.md §2.2)"}}
        else:
            status, body = 404, {"message": "Not Found"}
        payload = orjson.dumps(body)
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(params=[True, False], ids=["explains", "enrow"])
def server(request: pytest.FixtureRequest) -> Iterator[Explainer]:
    httpd = Explainer(request.param)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_each_miss_is_explained_once_or_the_server_is_asked_once(server: Explainer) -> None:
    missed = {index: f"s{index}" for index in range(0, 40, 2)}
    with Client("key", f"http://127.0.0.1:{server.server_address[1]}") as client:
        reasons = explain_misses(client, missed, concurrency=3)
    if server.explains:
        assert reasons == {index: f"rule s{index}" for index in missed}
        assert sorted(server.asked) == sorted(missed.values())
    else:
        assert reasons == dict.fromkeys(missed, UNEXPLAINED)
        assert len(server.asked) == 1
