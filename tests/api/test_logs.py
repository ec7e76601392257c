"""What ``trova serve`` writes on stderr (issue 17, defect 9; issue 19, item 11): one line per event
at the right level, each with the request id also sent back in ``X-Request-Id``; an access line per
request that never holds the API key; JSON lines with ``TROVA_LOG_FORMAT=json``."""

from __future__ import annotations

import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.api.conftest import Api
from tests.support.servers import TrovaServer


def serve(tmp: Path, **env: str) -> Api:
    url = f"sqlite:///{tmp / 'trova.db'}"
    full_env = {"TROVA_DATABASE_URL": url, "TROVA_LOG_LEVEL": "info", **env}
    server = TrovaServer(full_env, args=("serve", "--no-worker"), cwd=tmp, log_path=tmp / "stderr.log")
    server.start()
    return Api(server=server, url=url, env=full_env, tmp=tmp)


@pytest.fixture
def text(tmp_path: Path) -> Iterator[Api]:
    api = serve(tmp_path)
    yield api
    api.server.stop()


@pytest.fixture
def json_logs(tmp_path: Path) -> Iterator[Api]:
    api = serve(tmp_path, TROVA_LOG_FORMAT="json")
    yield api
    api.server.stop()


def log_of(api: Api, settle_s: float = 0.3) -> str:
    time.sleep(settle_s)
    return (api.tmp / "stderr.log").read_text()


def test_a_client_leaving_mid_body_is_one_info_line_without_traceback(text: Api) -> None:
    key = text.account("leaver").encode()
    with socket.create_connection(("127.0.0.1", text.server.port)) as sock:
        sock.sendall(
            b"POST /phone/single HTTP/1.1\r\nHost: x\r\nx-api-key: " + key + b"\r\n"
            b"content-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"linkedin_url\": "
        )
        time.sleep(0.3)
    log = log_of(text, 1.0)
    assert "Traceback" not in log and " ERROR " not in log, log
    assert sum("client left" in line for line in log.splitlines()) == 1, log


def test_a_500_is_logged_once_with_the_request_id_it_answered(text: Api) -> None:
    key = text.account("broken")
    with sqlite3.connect(text.tmp / "trova.db") as conn:
        conn.execute("ALTER TABLE accounts RENAME TO accounts_gone")
    with text.client(key) as client:
        answer = client.get("/account/info", headers={"x-request-id": "req-500-abc"})
    assert (answer.status_code, answer.json()) == (500, {"message": "Internal server error"})
    assert answer.headers["x-request-id"] == "req-500-abc"
    log = log_of(text)
    errors = [line for line in log.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "[req-500-abc]" in errors[0], log
    assert "Traceback" in log and "Exception in ASGI application" not in log


def test_every_request_has_one_access_line_without_the_key(text: Api) -> None:
    key = text.account("reader")
    with text.client(key) as client:
        info = client.get("/account/info?api_key=" + key + "&x=1")
        missing = client.get("/phone/single?id=00000000-0000-0000-0000-000000000000")
    log = log_of(text)
    assert key not in log
    access = [line for line in log.splitlines() if "trova.access" in line and "/healthz" not in line]
    assert len(access) == 2, log
    first, second = access
    assert f"[{info.headers['x-request-id']}]" in first
    assert "GET /account/info?api_key=****&x=1 200 " in first and first.endswith("ms")
    assert f"[{missing.headers['x-request-id']}]" in second and f" {missing.status_code} " in second


def test_json_logs_are_one_object_per_line(json_logs: Api) -> None:
    key = json_logs.account("json")
    with json_logs.client(key) as client:
        answer = client.get("/account/info", headers={"x-request-id": "json-1"})
    lines = [orjson.loads(line) for line in log_of(json_logs).splitlines() if line.strip()]
    (access,) = [line for line in lines if line["logger"] == "trova.access" and line["path"] != "/healthz"]
    assert access["request_id"] == "json-1" == answer.headers["x-request-id"]
    assert (access["method"], access["path"], access["status"]) == ("GET", "/account/info", 200)
    assert access["duration_ms"] >= 0 and access["level"] == "INFO" and access["pid"] > 0
