"""``trova db copy``: move an install onto another database (the embedded SQLite file onto PostgreSQL)."""

from __future__ import annotations

from typing import Annotated

import typer

from trova.accounts.service import verify_copied_balances
from trova.cli.common import require_database
from trova.errors import TrovaError
from trova.store.copy import copy_database

db_app = typer.Typer(
    name="db", help="Database maintenance: copy an install to another database.", no_args_is_help=True
)


@db_app.command("copy")
def copy_command(
    source: Annotated[str, typer.Option("--from", help="Database URL to copy from (e.g. sqlite:///./trova.db).")],
    target: Annotated[
        str, typer.Option("--to", help="EMPTY database URL to copy into (e.g. postgresql://user@host/trova).")
    ],
) -> None:
    """Copy every table (accounts, keys, balances, ledger, contacts, batches, results, webhooks, jobs)
    into an empty database: migrates it, keeps every id, verifies row counts and balances.

    Stop the servers and workers using --from first; start them on --to afterwards.
    """
    require_database(source)
    try:
        report = copy_database(source, target, verify_copied_balances, progress=_print_table)
    except TrovaError as error:
        typer.echo(f"error: {error.message}", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"copied {report.rows} rows in {len(report.tables)} tables; verified row counts and the balances of "
        f"{report.checked.accounts} accounts ({report.checked.credits} credits)"
    )


def _print_table(name: str, rows: int) -> None:
    typer.echo(f"  {name}: {rows} rows")


def register(app: typer.Typer) -> None:
    """Add ``trova db …`` to ``app``."""
    app.add_typer(db_app)
