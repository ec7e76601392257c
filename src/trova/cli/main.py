"""The ``trova`` command: one Typer app; each command group lives in its own module."""

from __future__ import annotations

import typer

from trova.cli import (
    accounts,
    admin,
    bulk,
    contacts,
    db,
    finder,
    mcp_server,
    privacy,
    server,
    sources,
    webhooks,
)

app = typer.Typer(
    name="trova",
    help="Trova: a self-hosted phone-number finder with an Enrow-compatible API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

for module in (server, accounts, contacts, finder, bulk, webhooks, privacy, db, sources, mcp_server, admin):
    module.register(app)


def main() -> None:
    app()
