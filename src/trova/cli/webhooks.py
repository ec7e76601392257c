"""``trova webhooks …`` (the delivery log, redelivery) and the accounts' webhook commands.

``trova accounts set-webhook NAME URL|--none`` validates the URL exactly as the API validates
``settings.webhook``; ``trova accounts webhook-secret NAME [--rotate]`` prints the signing secret.
"""

from __future__ import annotations

import datetime as dt
from types import ModuleType
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from trova.cli.accounts import accounts_app, fail, write_transaction
from trova.cli.common import settings
from trova.errors import InvalidWebhookUrl
from trova.settings import Settings

if TYPE_CHECKING:
    from trova.webhooks.service import MessageView

def _service() -> ModuleType:
    """The webhook service, imported when a webhook command runs: it loads the address guard and
    its HTTP stack, which ``trova accounts list`` (registered with these commands) never needs."""
    from trova.webhooks import service

    return service


webhooks_app = typer.Typer(
    name="webhooks",
    help="The webhook delivery log: list, inspect and redeliver messages.",
    no_args_is_help=True,
)

WIDE = 240


def _time(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""


def _when(view: MessageView) -> str:
    message = view.message
    if message.status == "delivered":
        return f"delivered {_time(message.delivered_at)}"
    if message.status == "pending":
        return f"next {_time(message.next_attempt_at)}"
    return "gave up"


@webhooks_app.command("list")
def list_messages(
    account: Annotated[str | None, typer.Option("--account", help="Only this account's messages.")] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Only messages that were given up on.")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many, newest first.")] = 100,
) -> None:
    """Webhook messages, newest first: status, attempts, and the last error."""
    with write_transaction() as conn:
        views = _service().list_messages(
            conn, account_name=account, status="failed" if failed else None, limit=limit
        )
    table = Table(
        "id", "account", "event", "batch", "status", "attempts", "created (UTC)", "when", "last error"
    )
    for view in views:
        message = view.message
        table.add_row(
            message.id,
            view.account_name,
            message.event,
            message.batch_id or "",
            message.status,
            str(view.attempts_total),
            _time(message.created_at),
            _when(view),
            message.last_error or "",
        )
    Console(width=WIDE).print(table)
    typer.echo(f"{len(views)} message(s)")


@webhooks_app.command("show")
def show(message_id: Annotated[str, typer.Argument(help="The message id (its webhook-id header).")]) -> None:
    """One message and every attempt to deliver it: time, status code, latency, error, answer."""
    with write_transaction() as conn:
        view, attempts = _service().show_message(conn, message_id)
    message = view.message
    typer.echo(f"id:       {message.id}")
    typer.echo(f"account:  {view.account_name}")
    typer.echo(f"event:    {message.event}")
    typer.echo(f"batch:    {message.batch_id or ''}")
    typer.echo(f"url:      {message.url}")
    typer.echo(f"status:   {message.status} ({_when(view)})")
    typer.echo(f"created:  {_time(message.created_at)} UTC")
    table = Table("#", "time (UTC)", "status", "latency (ms)", "error", "answer (first bytes)")
    for number, attempt in enumerate(attempts, start=1):
        table.add_row(
            str(number),
            _time(attempt.attempted_at),
            "" if attempt.status_code is None else str(attempt.status_code),
            "" if attempt.latency_ms is None else str(attempt.latency_ms),
            attempt.error or "",
            (attempt.response_excerpt or "")[:120],
        )
    Console(width=WIDE).print(table)
    typer.echo(f"{len(attempts)} attempt(s)")


@webhooks_app.command("redeliver")
def redeliver(message_id: Annotated[str, typer.Argument(help="The message id to send again.")]) -> None:
    """Send a message again (same webhook-id) as soon as a sender picks it up, with a fresh schedule."""
    with write_transaction() as conn:
        message = _service().redeliver(conn, message_id)
    typer.echo(f"{message.id} queued for redelivery to {message.url}")


def set_webhook(
    name: Annotated[str, typer.Argument(help="The account.")],
    url: Annotated[str | None, typer.Argument(help="The default webhook URL (https:// required).")] = None,
    none: Annotated[bool, typer.Option("--none", help="Remove the default webhook.")] = False,
) -> None:
    """Set the account's default webhook URL (used when a request gives none), or remove it with --none."""
    if (url is None) == (not none):
        fail("give either a URL or --none")
    current = settings()
    if url is not None:
        check_webhook_url(url, current)
    with write_transaction() as conn:
        stored = _service().set_account_webhook(conn, name, url, current)
    typer.echo(f"{name}: default webhook {stored}" if stored else f"{name}: no default webhook")


def webhook_secret(
    name: Annotated[str, typer.Argument(help="The account.")],
    rotate: Annotated[
        bool, typer.Option("--rotate", help="Issue a new secret; the old one is also signed with for 24 h.")
    ] = False,
) -> None:
    """Print the account's webhook signing secret (alone on the last line); --rotate issues a new one."""
    with write_transaction() as conn:
        secrets = _service().account_webhook_secret(conn, name, rotate=rotate)
    if secrets.previous is not None:
        from trova.webhooks.signing import ROTATION_OVERLAP

        hours = int(ROTATION_OVERLAP.total_seconds() // 3600)
        typer.echo(f"the previous secret is still signed with, for up to {hours} h after the rotation:")
        typer.echo(f"previous: {secrets.previous}")
    typer.echo(secrets.current)


def check_webhook_url(url: str, current: Settings) -> None:
    """Refuse a webhook URL with one line saying what is required (https, a public address)."""
    try:
        from trova.webhooks.guard import validate_submitted_url

        validate_submitted_url(url, current)
    except InvalidWebhookUrl as error:
        wanted = []
        if not current.webhook_allow_http:
            wanted.append("https:// (TROVA_WEBHOOK_ALLOW_HTTP=true allows http://)")
        if not current.webhook_allow_private:
            wanted.append("a public address (TROVA_WEBHOOK_ALLOW_PRIVATE=true allows others)")
        needs = f"; a webhook URL needs {' and '.join(wanted)}" if wanted else ""
        fail(f"{error.message}: {url!r}{needs}")


def register(app: typer.Typer) -> None:
    """Add the ``webhooks`` group to ``app`` and the webhook commands to ``accounts``."""
    accounts_app.command("set-webhook")(set_webhook)
    accounts_app.command("webhook-secret")(webhook_secret)
    app.add_typer(webhooks_app, name="webhooks")
