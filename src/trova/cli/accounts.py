"""``trova accounts …``: create accounts, top up credits, rotate keys, switch the phone feature."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

import sqlalchemy as sa
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import Connection

from trova.accounts import service as accounts
from trova.accounts.models import Split
from trova.cli.common import fail, open_database, settings
from trova.errors import ConfigError, TrovaError
from trova.store import Database

accounts_app = typer.Typer(
    name="accounts", help="Manage accounts, API keys and credits.", no_args_is_help=True
)

Credits = Annotated[int, typer.Option("--credits", min=0, help="Subscription credits (spent first).")]
Paygo = Annotated[int, typer.Option("--paygo", min=0, help="Pay-as-you-go credits.")]


__all__ = ["fail", "write_transaction"]


@contextmanager
def write_transaction(*, create: bool = False) -> Iterator[Connection]:
    """A write transaction on the configured (and migrated) database; errors become one stderr line.

    Only ``create`` (``trova accounts create``) may create a database that does not exist yet.
    """
    db: Database | None = None
    try:
        db = open_database(create=create)
        with db.write() as conn:
            yield conn
    except ConfigError:
        raise
    except TrovaError as error:
        fail(error.message)
    except sa.exc.SQLAlchemyError as error:
        fail(f"database error: {str(error).splitlines()[0]}")
    finally:
        if db is not None:
            db.dispose()


def _account_id(conn: Connection, name: str) -> int:
    return accounts.require_account(conn, name).id


@accounts_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Unique account name.")],
    credits: Credits = 0,
    paygo: Paygo = 0,
    webhook: Annotated[str | None, typer.Option("--webhook", help="Default webhook URL.")] = None,
) -> None:
    """Create an account; its API key is printed alone on the last line (shown only once)."""
    if not name.strip():
        fail("the account name must not be empty")
    if webhook is not None:
        from trova.cli.webhooks import check_webhook_url

        check_webhook_url(webhook, settings())
    with write_transaction(create=True) as conn:
        created = accounts.create_account(conn, name, credits=credits, paygo=paygo, webhook_url=webhook)
    typer.echo(f"created account {name!r}: {credits} subscription + {paygo} pay-as-you-go credits")
    typer.echo(created.api_key)


@accounts_app.command("list")
def list_accounts() -> None:
    """Every account with its balances, key prefix and phone feature state."""
    with write_transaction() as conn:
        rows = accounts.list_accounts(conn)
    table = Table("name", "key", "sub", "paygo", "total", "phone", "webhook", "created (UTC)")
    for account in rows:
        table.add_row(
            account.name,
            account.key_prefix + "…",
            str(account.sub_credits),
            str(account.paygo_credits),
            str(account.credits),
            "enabled" if account.phone_enabled else "disabled",
            account.webhook_url or "",
            account.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    Console(width=200).print(table)


@accounts_app.command("topup")
def topup(name: Annotated[str, typer.Argument()], credits: Credits = 0, paygo: Paygo = 0) -> None:
    """Add subscription and/or pay-as-you-go credits (one ledger row)."""
    if credits == 0 and paygo == 0:
        fail("nothing to add: give --credits and/or --paygo")
    with write_transaction() as conn:
        account_id = _account_id(conn, name)
        accounts.topup(conn, account_id, Split(sub=credits, paygo=paygo), note="operator top-up")
        account = accounts.get_account(conn, account_id)
    assert account is not None
    typer.echo(f"{name}: {account.sub_credits} subscription + {account.paygo_credits} pay-as-you-go credits")


@accounts_app.command("rotate-key")
def rotate_key(name: Annotated[str, typer.Argument()]) -> None:
    """Issue a new API key (printed alone on the last line); the old one stops working at once."""
    with write_transaction() as conn:
        key = accounts.rotate_key(conn, _account_id(conn, name))
    typer.echo(f"new key for {name!r} (the previous key no longer works):")
    typer.echo(key)


def _phone_switch(enabled: bool) -> Callable[[str], None]:
    def switch(name: Annotated[str, typer.Argument()]) -> None:
        with write_transaction() as conn:
            accounts.set_phone_enabled(conn, _account_id(conn, name), enabled)
        typer.echo(f"{name}: phone search {'enabled' if enabled else 'disabled'}")

    switch.__doc__ = f"{'Allow' if enabled else 'Refuse'} the phone endpoints for this account."
    return switch


accounts_app.command("disable-phone")(_phone_switch(False))
accounts_app.command("enable-phone")(_phone_switch(True))


@accounts_app.command("upstream-budget")
def upstream_budget(
    name: Annotated[str, typer.Argument()],
    per_month: Annotated[
        float | None,
        typer.Option("--per-month", min=0, help="Vendor spend this account's searches may cause per month."),
    ] = None,
    unlimited: Annotated[bool, typer.Option("--unlimited", help="Remove the account's limit.")] = False,
) -> None:
    """Show or set how much upstream (vendor) spend the account's searches may cause per month.

    In the vendors' price unit; a search that would exceed it skips the vendor (finder.md §4.3).
    """
    from trova.sources.service import account_spend
    from trova.store import utcnow

    if per_month is not None and unlimited:
        fail("give --per-month or --unlimited, not both")
    with write_transaction() as conn:
        account_id = _account_id(conn, name)
        if per_month is not None or unlimited:
            accounts.set_upstream_budget(conn, account_id, per_month)
        account = accounts.get_account(conn, account_id)
        spent = account_spend(conn, account_id, utcnow())
    assert account is not None
    budget = account.upstream_budget_per_month
    limit = "no limit" if budget is None else f"{budget:g} per month"
    typer.echo(f"{name}: upstream budget {limit}; spent this month {spent:g}")


@accounts_app.command("ledger")
def ledger(
    name: Annotated[str, typer.Argument()],
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the latest N entries.")] = None,
) -> None:
    """The account's credit ledger: top-ups, reservations and refunds, and the balance they add up to."""
    with write_transaction() as conn:
        account_id = _account_id(conn, name)
        entries = accounts.ledger(conn, account_id, limit=limit)
        balance = accounts.ledger_balance(conn, account_id)
    table = Table("#", "time (UTC)", "kind", "sub", "paygo", "batch", "search", "note")
    for entry in entries:
        table.add_row(
            str(entry.id),
            entry.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            entry.kind,
            f"{entry.sub_delta:+d}",
            f"{entry.paygo_delta:+d}",
            entry.batch_id or "",
            entry.search_id or "",
            entry.note or "",
        )
    Console(width=220).print(table)
    typer.echo(f"balance: {balance.sub} subscription + {balance.paygo} pay-as-you-go = {balance.total}")


def register(app: typer.Typer) -> None:
    """Add the ``accounts`` group to ``app``."""
    app.add_typer(accounts_app, name="accounts")
