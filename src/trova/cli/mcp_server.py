"""``trova mcp``: serve the MCP tools to agents, over stdio (one user) or streamable HTTP (many).

The MCP SDK is imported only when the command runs, so ``trova --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from trova.cli.common import settings
from trova.client import DEFAULT_BASE_URL


def register(app: typer.Typer) -> None:
    """Add ``trova mcp`` to ``app``."""
    app.command("mcp")(mcp_command)


def mcp_command(
    base_url: Annotated[str, typer.Option(envvar="TROVA_BASE_URL", help="Trova (or Enrow) server URL.")] = (
        DEFAULT_BASE_URL
    ),
    api_key: Annotated[str | None, typer.Option(
        envvar="TROVA_API_KEY", help="API key for stdio (never used with --http).")] = None,
    http: Annotated[bool, typer.Option(
        "--http", help="Serve streamable HTTP at /mcp; each request brings its own x-api-key.")] = False,
    host: Annotated[str, typer.Option(help="Address to listen on with --http.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on with --http.")] = 8765,
    files_dir: Annotated[Path | None, typer.Option(
        help="With --http: enable find_phones_in_csv for files in this directory only.")] = None,
) -> None:
    """Serve Trova's MCP tools (Enrow's tool names, plus find_phone_and_wait, explain_phone and
    find_phones_in_csv) over stdio, or over HTTP with --http."""
    from trova.mcp.server import Connection

    if http:
        from trova.mcp.http import serve

        if files_dir is not None and not files_dir.is_dir():
            _fail(f"--files-dir {files_dir}: no such directory")
        connection = Connection(base_url, None, http=True, files_dir=files_dir)
        serve(connection, host, port, keep_alive_timeout_s=settings().keep_alive_timeout_s)
        return
    if not api_key:
        _fail("no API key: pass --api-key or set TROVA_API_KEY (with --http each caller sends its own)")
    from trova.mcp.server import build_server

    build_server(Connection(base_url, api_key)).run("stdio")


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)
