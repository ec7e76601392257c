"""``trova batches``: the account's bulk batches on a server, newest first (``GET /phone/bulks``)."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
import typer

from trova.cli.bulk import NO_KEY, one_line_errors
from trova.client import Client
from trova.errors import UsageError


def batches_command(
    limit: Annotated[int, typer.Option("--limit", min=1, max=100, help="At most this many.")] = 20,
    before: Annotated[str | None, typer.Option("--before", help="Only batches older than this id.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the server's JSON body.")] = False,
    base_url: Annotated[str | None, typer.Option(envvar="TROVA_BASE_URL", help="Server URL.")] = None,
    api_key: Annotated[str | None, typer.Option(envvar="TROVA_API_KEY", help="API key.")] = None,
) -> None:
    """List the account's batches, newest first: status, counts and cost."""
    with one_line_errors("batches"), Client(api_key, base_url) as client:
        if client.config.api_key is None:
            raise UsageError(NO_KEY)
        body = client.list_bulks(limit=limit, before=before)
    if as_json:
        typer.echo(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())
        return
    bulks: list[dict[str, Any]] = list(body.get("bulks") or [])
    typer.echo(f"{'id':<36}  {'created (UTC)':<20}  {'status':<9}  {'done':>11}  {'found':>6}  {'cost':>8}")
    for bulk in bulks:
        done = f"{bulk['finished']}/{bulk['requested']}"
        typer.echo(
            f"{bulk['id']:<36}  {bulk['created_at']:<20}  {bulk['status']:<9}  {done:>11}  "
            f"{bulk['found']:>6}  {bulk['credits_cost']:>8}"
        )
    if not bulks:
        typer.echo("no batches")
    elif body.get("next_before"):
        typer.echo(f"older: trova batches --before {body['next_before']}")


def register(app: typer.Typer) -> None:
    """Add ``trova batches`` to ``app``."""
    app.command("batches")(batches_command)
