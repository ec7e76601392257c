"""MCP sessions over the official client transports, against ``trova mcp`` subprocesses."""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import anyio
import httpx
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.types import CallToolResult, TextContent

from mcp import ClientSession, StdioServerParameters, stdio_client
from tests.support.servers import TrovaServer

T = TypeVar("T")


def run(main: Callable[[], Awaitable[T]]) -> T:
    """Run one async test body (the suite has no async test plugin)."""
    return anyio.run(main)


@asynccontextmanager
async def stdio_session(base_url: str, api_key: str, cwd: Path) -> AsyncIterator[ClientSession]:
    """``trova mcp`` as a child process speaking stdio; the key comes from ``TROVA_API_KEY``."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "trova", "mcp", "--base-url", base_url],
        env={"TROVA_API_KEY": api_key, "TROVA_BASE_URL": ""},
        cwd=cwd,
    )
    with open(cwd / "mcp-stdio.log", "a") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session


@asynccontextmanager
async def http_session(url: str, headers: Mapping[str, str]) -> AsyncIterator[ClientSession]:
    """A streamable HTTP session whose every request carries ``headers``."""
    async with (
        create_mcp_http_client(headers=dict(headers)) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


class McpHttpServer(TrovaServer):
    """``trova mcp --http`` on a free loopback port, ready once it answers (401 without a key)."""

    def __init__(self, base_url: str, files_dir: Path, log_path: Path) -> None:
        super().__init__(
            {"TROVA_API_KEY": "", "TROVA_BASE_URL": ""}, args=(), cwd=files_dir, log_path=log_path
        )
        self.args = [
            "mcp",
            "--http",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--base-url",
            base_url,
            "--files-dir",
            str(files_dir),
        ]

    @property
    def url(self) -> str:
        return f"{self.base_url}/mcp"

    def start(self, *, wait: bool = True) -> McpHttpServer:
        super().start(wait=False)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"trova mcp exited with {self.proc.returncode}; see {self.log_path}")
            try:
                httpx.post(self.url, timeout=1.0)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise TimeoutError(f"trova mcp did not listen on {self.url}")


def text_of(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


def data_of(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    return dict(result.structured_content)


async def call(session: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    """A tool call that must succeed: its structured content."""
    return data_of(await session.call_tool(tool, arguments))


async def poll(
    session: ClientSession,
    tool: str,
    done: Callable[[dict[str, Any]], bool],
    timeout_s: float = 120.0,
    **arguments: Any,
) -> dict[str, Any]:
    """Call ``tool`` until ``done`` says so (the deadline only guards against a hung server)."""
    deadline = time.monotonic() + timeout_s
    while True:
        data = await call(session, tool, **arguments)
        if done(data):
            return data
        assert time.monotonic() < deadline, f"{tool} still not done: {data}"
        await anyio.sleep(0.1)


@dataclass
class ProgressLog:
    """Collects the progress notifications of one call."""

    updates: list[tuple[float, float | None, str | None]] = field(default_factory=list)

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.updates.append((progress, total, message))
