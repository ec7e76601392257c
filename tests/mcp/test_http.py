"""``trova mcp --http`` (streamable HTTP) with the official MCP client: each request brings its key."""

from __future__ import annotations

import csv
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mcp import MCPError
from tests.client.support import PRICE, Deployment, contact
from tests.mcp.support import McpHttpServer, ProgressLog, call, data_of, http_session, run, text_of


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mcp-files")


@pytest.fixture(scope="module")
def mcp_http(trova: Deployment, files: Path) -> Iterator[McpHttpServer]:
    with McpHttpServer(trova.base_url, files, files.parent / "mcp-http.log") as server:
        yield server


def test_x_api_key_header_authenticates_each_request(mcp_http: McpHttpServer, api_key: str) -> None:
    person = contact(9)

    async def main() -> None:
        async with http_session(mcp_http.url, {"x-api-key": api_key}) as session:
            tools = {tool.name for tool in (await session.list_tools()).tools}
            found = await call(
                session, "find_phone_and_wait", linkedin_url=person.linkedin_url, timeout_s=120
            )
            account = await call(session, "get_account_info")
        assert "find_phone" in tools and "explain_phone" in tools
        assert (found["qualification"], found["number"]) == ("found", person.phone)
        assert account["credits"] == 10_000 - PRICE

    run(main)


def test_a_bearer_token_carries_the_key_too(mcp_http: McpHttpServer, api_key: str) -> None:
    async def main() -> None:
        async with http_session(mcp_http.url, {"Authorization": f"Bearer {api_key}"}) as session:
            account = await call(session, "get_account_info")
            explained = await session.call_tool(
                "explain_phone", {"id": "00000000-0000-4000-8000-000000000000"}
            )
        assert account["credits"] == 10_000
        assert explained.is_error and text_of(explained) == "Search not found (HTTP 404)"

    run(main)


def test_two_callers_on_one_server_each_use_their_own_key(
    trova: Deployment, mcp_http: McpHttpServer, api_key: str
) -> None:
    other = trova.create_account("http-other", 123)

    async def main() -> tuple[int, int]:
        async with (
            http_session(mcp_http.url, {"x-api-key": api_key}) as mine,
            http_session(mcp_http.url, {"x-api-key": other}) as theirs,
        ):
            return (await call(mine, "get_account_info"))["credits"], (
                await call(theirs, "get_account_info")
            )["credits"]

    assert run(main) == (10_000, 123)


def test_a_request_without_a_key_is_refused(mcp_http: McpHttpServer) -> None:
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }
    answer = httpx.post(
        mcp_http.url, json=initialize, headers={"accept": "application/json, text/event-stream"}, timeout=30
    )
    assert answer.status_code == 401
    assert answer.json() == {
        "message": "Missing API key: send it in the x-api-key header (or Authorization: Bearer KEY)"
    }
    assert (
        httpx.post(
            mcp_http.url, json=initialize, timeout=30, headers={"authorization": "Basic abc"}
        ).status_code
        == 401
    )

    async def main() -> None:
        async with http_session(mcp_http.url, {}):
            pass

    with pytest.raises(ExceptionGroup) as caught:  # the SDK's task groups wrap the refusal
        run(main)
    assert caught.group_contains(MCPError, match="error response")


def test_an_invalid_key_is_a_tool_error_with_the_apis_message(mcp_http: McpHttpServer) -> None:
    async def main() -> None:
        async with http_session(mcp_http.url, {"x-api-key": "trova_not_a_key"}) as session:
            result = await session.call_tool("get_account_info", {})
        assert result.is_error
        assert result.structured_content is not None and result.structured_content["status"] == 401

    run(main)


def test_find_phones_in_csv_over_http_stays_in_the_files_directory(
    mcp_http: McpHttpServer, files: Path, api_key: str, tmp_path: Path
) -> None:
    with (files / "leads.tsv").open("w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(["linkedin", "company"])
        writer.writerow([contact(10).linkedin_url, "x"])
        writer.writerow(["linkedin.com/in/nobody-here", "y"])
    outside = tmp_path / "secret.csv"
    outside.write_text("linkedin_url\nlinkedin.com/in/someone\n")
    progress = ProgressLog()

    async def main() -> None:
        async with http_session(mcp_http.url, {"x-api-key": api_key}) as session:
            done = data_of(
                await session.call_tool(
                    "find_phones_in_csv",
                    {"input_path": "leads.tsv", "output_path": "out/leads.csv", "poll_interval_s": 0.1},
                    progress_callback=progress,
                )
            )
            escape = await session.call_tool("find_phones_in_csv", {"input_path": str(outside)})
            climb = await session.call_tool("find_phones_in_csv", {"input_path": "../secret.csv"})
        assert (done["rows"], done["found"], done["not_found"]) == (2, 1, 1)
        assert done["output_path"] == str((files / "out" / "leads.csv").resolve())
        assert escape.is_error and "outside the directory" in text_of(escape)
        assert climb.is_error and "outside the directory" in text_of(climb)

    (files / "out").mkdir()
    run(main)
    with (files / "out" / "leads.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["phone_status"], r["phone"]) for r in rows] == [
        ("found", contact(10).phone),
        ("not_found", ""),
    ]
    assert progress.updates and progress.updates[-1][:2] == (2.0, 2.0)


def test_an_idle_connection_outlives_the_clients_reuse_window(mcp_http: McpHttpServer) -> None:
    """The MCP SDK's client (httpx) reuses an idle connection for 5 s; a server closing it at that
    moment would reset the agent's next request (``TROVA_KEEP_ALIVE_TIMEOUT_S``, as ``trova serve``)."""
    reuse_window_s = httpx.Limits().keepalive_expiry
    assert reuse_window_s is not None
    with socket.create_connection(("127.0.0.1", mcp_http.port), timeout=30) as sock:
        for _ in range(2):
            sock.sendall(b"POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            assert read_chunked(sock).startswith(b"HTTP/1.1 401")
            time.sleep(reuse_window_s + 1)


def read_chunked(sock: socket.socket) -> bytes:
    """One whole answer sent in chunks (head and body), as the server sent it."""
    answer = b""
    while not answer.endswith(b"\r\n0\r\n\r\n"):  # the last chunk
        chunk = sock.recv(65536)
        assert chunk, answer
        answer += chunk
    return answer
