"""``trova admin token``: a new operator token for the web console (``/admin``), printed once."""

from __future__ import annotations

import typer

from trova.accounts import operators
from trova.cli.accounts import write_transaction

admin_app = typer.Typer(name="admin", help="The operator console of the web app.", no_args_is_help=True)


@admin_app.command("token")
def token_command() -> None:
    """Print a new operator token (alone on stdout); only its digest is stored."""
    with write_transaction() as conn:
        token = operators.new_token(conn)
    typer.echo(token)


def register(app: typer.Typer) -> None:
    app.add_typer(admin_app)
