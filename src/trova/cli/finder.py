"""``trova explain``: show how the finder answers one search, and why."""

from __future__ import annotations

import sys
from typing import Annotated, NoReturn

import orjson
import typer
from sqlalchemy.exc import SQLAlchemyError

from trova.cli.common import EXIT_USAGE, fail, require_database, settings
from trova.errors import TrovaError
from trova.finder.explain import explain, render_text
from trova.people.normalise import search_from_params
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
    url = settings().database_url
    require_database(url)
    db = Database(url)
    try:
        explanation = explain(db, search)
    except SQLAlchemyError as exc:
        _fail(f"cannot read the contact store: {str(exc).splitlines()[0]} (run trova import first?)")
    finally:
        db.dispose()
    if as_json:
        sys.stdout.write(orjson.dumps(explanation.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        typer.echo(render_text(explanation))


def _fail(message: str) -> NoReturn:
    fail(message, EXIT_USAGE)
