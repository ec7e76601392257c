"""``trova explain``: show how the finder answers one search, and why."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Annotated, Any, NoReturn

import orjson
import typer
from sqlalchemy.exc import SQLAlchemyError

from trova.cli.common import EXIT_USAGE, fail, require_database, settings
from trova.errors import TrovaError
from trova.finder.explain import explain, render_text
from trova.people.models import Search
from trova.people.normalise import search_from_params
from trova.settings import Settings
from trova.store import Database


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("explain")(explain_command)


WHAT_TO_GIVE = "give --linkedin URL, or --first and --last (or --full) with --domain or --company"


def explain_command(
    linkedin: Annotated[str | None, typer.Option("--linkedin", help="LinkedIn profile URL.")] = None,
    first: Annotated[str | None, typer.Option("--first", help="First name.")] = None,
    last: Annotated[str | None, typer.Option("--last", help="Last name.")] = None,
    full: Annotated[
        str | None, typer.Option("--full", help="Full name, when first/last are not given.")
    ] = None,
    domain: Annotated[str | None, typer.Option("--domain", help="Company domain or website.")] = None,
    company: Annotated[str | None, typer.Option("--company", help="Company name.")] = None,
    account: Annotated[
        str | None, typer.Option("--account", help="Show the vendors this account's budget would skip.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the explanation as JSON.")] = False,
) -> None:
    """Explain one search: normalised keys, candidate people, their numbers, and the deciding rule.

    Give --linkedin URL, or --first and --last (or --full) with --domain or --company.
    """
    params = {
        "linkedin_url": linkedin,
        "firstname": first,
        "lastname": last,
        "fullname": full,
        "company_domain": domain,
        "company_name": company,
    }
    try:
        search = search_from_params({key: value for key, value in params.items() if value is not None})
    except TrovaError as exc:
        _fail(f"{exc.message} ({WHAT_TO_GIVE})")
    config = settings()
    require_database(config.database_url)
    db = Database(config.database_url)
    try:
        explanation = explain(db, search, nicknames=config.nicknames)
        order = upstream_order(db, config, search, account)
    except SQLAlchemyError as exc:
        _fail(f"cannot read the contact store: {str(exc).splitlines()[0]} (run trova import first?)")
    finally:
        db.dispose()
    if as_json:
        body = {**explanation.to_dict(), **({"upstream_order": order} if order else {})}
        sys.stdout.write(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        typer.echo(render_text(explanation))
        if order:
            typer.echo(render_order(order))


def upstream_order(
    db: Database, config: Settings, search: Search, account_name: str | None = None
) -> dict[str, Any] | None:
    """The vendors this search would be asked, in order, and why (docs/finder.md §4.7), with those
    a spent budget (the vendor's, or ``account_name``'s) would skip now, and those never asked in
    this configuration (``not_asked``: Apollo without ``TROVA_PUBLIC_URL``); None without vendors."""
    from trova.accounts.service import require_account
    from trova.finder.upstream import SpendScope
    from trova.sources.config import CommonOptions, configured_sources, not_asked
    from trova.sources.guard import allowance
    from trova.sources.order import describe
    from trova.sources.waterfall import from_settings
    from trova.store import utcnow

    unasked = [
        f"{spec.name}: {reason}"
        for spec in configured_sources(config)
        if spec.enabled and (reason := not_asked(spec, config.public_url))
    ]
    waterfall = from_settings(db, config)
    choice = waterfall.choice(search) if waterfall is not None else None
    if choice is None or not choice.vendors:
        return {"vendors": [], "why": [], "not_asked": unasked} if unasked else None
    assert waterfall is not None
    scope = None
    if account_name is not None:
        with db.read() as conn:
            found = require_account(conn, account_name)
        scope = SpendScope(found.id, found.upstream_budget_per_month)
    options = {s.name: s.options for s in waterfall.specs if isinstance(s.options, CommonOptions)}
    why = describe(choice, waterfall.mode)
    for i, name in enumerate(choice.vendors):
        allowed, bound = allowance(db, name, options[name], scope, utcnow())
        if allowed == 0:
            whose = f"account {account_name}'s upstream" if bound == "account" else "the vendor's"
            why[i] += f" — skipped now: {whose} budget cannot pay its price"
    return {
        "mode": waterfall.mode,
        "stop_at": waterfall.stop_at,
        "country": choice.country,
        "explored": choice.explored,
        "vendors": list(choice.vendors),
        "why": why,
        **({"not_asked": unasked} if unasked else {}),
    }


def render_order(order: Mapping[str, Any]) -> str:
    lines = []
    if order["vendors"]:
        country = order["country"] or "unknown"
        lines.append(
            f"Vendors, in asking order ({order['mode']} order, search country {country}, "
            f"stop at {order['stop_at']}):"
        )
        lines.extend(f"  {line}" for line in order["why"])
    if order.get("not_asked"):
        lines.append("Vendors never asked in this configuration:")
        lines.extend(f"  {line}" for line in order["not_asked"])
    return "\n".join(lines)


def _fail(message: str) -> NoReturn:
    fail(message, EXIT_USAGE)
