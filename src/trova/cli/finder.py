"""``trova explain``: show how the finder answers one search, and why."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, NoReturn

import orjson
import typer
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from trova.errors import TrovaError
from trova.finder.explain import explain, render_text
from trova.people.normalise import search_from_params
from trova.settings import Settings
from trova.store import Database


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("explain")(explain_command)


def explain_command(
    linkedin: Annotated[str | None, typer.Option("--linkedin", help="LinkedIn profile URL")] = None,
    first: Annotated[str | None, typer.Option("--first", help="First name")] = None,
    last: Annotated[str | None, typer.Option("--last", help="Last name")] = None,
    full: Annotated[
        str | None, typer.Option("--full", help="Full name, when first/last are not given")
    ] = None,
    domain: Annotated[str | None, typer.Option("--domain", help="Company domain or website URL")] = None,
    company: Annotated[str | None, typer.Option("--company", help="Company name")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object for machines")] = False,
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
        _fail(f"{exc.message} (give --linkedin URL, or --first and --last with --domain or --company)")
    url = Settings().database_url
    _require_existing_sqlite_file(url)
    db = Database(url)
    try:
        explanation = explain(db, search)
    except SQLAlchemyError as exc:
        _fail(f"cannot read the contact store: {str(exc).splitlines()[0]} (run `trova import` first?)")
    finally:
        db.dispose()
    if as_json:
        sys.stdout.write(orjson.dumps(explanation.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        typer.echo(render_text(explanation))


def _require_existing_sqlite_file(url: str) -> None:
    """Explaining reads only: never let SQLite create an empty database file as a side effect."""
    parsed = make_url(url)
    is_file = parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:")
    if is_file and not Path(str(parsed.database)).exists():
        _fail(f"no contact store at {parsed.database} (run `trova import` first)")


def _fail(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(2)
