"""``trova config``: the effective settings and where each came from (environment, file, default)."""

from __future__ import annotations

from typing import Annotated

import orjson
import typer

from trova.cli.common import settings
from trova.settings import effective_settings


def config_command(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object for machines.")] = False,
) -> None:
    """Show every setting's effective value and its origin; passwords and secret options are masked."""
    rows = effective_settings(settings())
    if as_json:
        body = {name: {"value": value, "origin": origin} for name, value, origin in rows}
        typer.echo(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())
        return
    width = max(len(name) for name, _value, _origin in rows) + len("TROVA_")
    for name, value, origin in rows:
        shown = value if isinstance(value, str) else orjson.dumps(value).decode()
        typer.echo(f"{'TROVA_' + name.upper():<{width}}  {shown}  [{origin}]")


def register(app: typer.Typer) -> None:
    """Add ``trova config`` to ``app``."""
    app.command("config")(config_command)
