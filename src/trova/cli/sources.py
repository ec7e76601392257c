"""``trova sources …``: the configured upstream sources, their health and their counters."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import Connection

from trova.cli.accounts import fail, write_transaction
from trova.settings import get_settings
from trova.sources import repository as repo
from trova.sources import service
from trova.sources.config import SourceSpec, configured_sources, not_asked
from trova.sources.models import STAT_COLUMNS
from trova.store import utcnow

sources_app = typer.Typer(
    name="sources",
    help="Upstream sources: configuration, health and counters (requests, hits, credits spent).",
    no_args_is_help=True,
)

WIDE = 200


def _specs() -> list[SourceSpec]:
    return configured_sources(get_settings())


@contextmanager
def _connection() -> Iterator[Connection]:
    with write_transaction() as conn:
        yield conn


JSON_OPTION = typer.Option("--json", help="Print a JSON array, one object per source.")


def print_json(rows: list[dict[str, object]]) -> None:
    """``--json``: one JSON array (``[]`` when there is nothing to show), for machines."""
    typer.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())


def _time(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""


@sources_app.command("list")
def list_command(
    as_json: Annotated[bool, JSON_OPTION] = False,
) -> None:
    """The waterfall in order: kind, where it is reached, and its health (ok, open, exhausted, …)."""
    specs = _specs()
    with _connection() as conn:
        views = service.list_sources(conn, specs, utcnow(), public_url=get_settings().public_url)
    if as_json:
        rows = []
        for view in views:
            rows.append({
                "position": view.position,
                "name": view.name,
                "kind": view.kind,
                "target": view.target,
                "settings": view.settings,
                "enabled": view.enabled,
                "health": view.health,
                "detail": view.detail,
                "remembered_misses": view.remembered_misses,
                "last_success_at": _time(view.last_success_at) or None,
                "last_error": view.last_error,
            })
        print_json(rows)
        return
    table = Table(
        "#",
        "name",
        "kind",
        "target",
        "settings",
        "health",
        "remembered misses",
        "last success (UTC)",
        "last error",
    )
    for view in views:
        health = f"{view.health} {view.detail}".strip()
        table.add_row(
            str(view.position),
            view.name,
            view.kind,
            view.target,
            view.settings,
            health,
            str(view.remembered_misses),
            _time(view.last_success_at),
            view.last_error or "",
        )
    Console(width=WIDE).print(table)


def _spend_row(row: repo.CallStats) -> dict[str, object]:
    return {
        "asked": row.asked,
        "billed": row.billed,
        "found": row.found,
        "hit_rate": round(row.hit_rate, 4) if row.hit_rate is not None else None,
        "spend": round(row.spend, 4),
        "cost_per_found": round(row.cost_per_found, 4) if row.cost_per_found is not None else None,
    }


SPEND_COLUMNS = ("asked", "billed", "found", "hit rate", "spend", "cost per found")


def _spend_cells(row: repo.CallStats) -> list[str]:
    rate = f"{row.hit_rate:.1%}" if row.hit_rate is not None else "-"
    per = f"{row.cost_per_found:,.2f}" if row.cost_per_found is not None else "-"
    return [f"{row.asked:,}", f"{row.billed:,}", f"{row.found:,}", rate, f"{row.spend:,.2f}", per]


@sources_app.command("stats")
def stats_command(
    days: Annotated[
        int | None, typer.Option("--days", min=1, help="Only the last N days (UTC, today included).")
    ] = None,
    since: Annotated[
        dt.datetime | None,
        typer.Option("--since", formats=["%Y-%m-%d"], help="Only from this UTC day on (YYYY-MM-DD)."),
    ] = None,
    by: Annotated[
        str | None, typer.Option("--by", help="'country': vendor calls per country of the number found.")
    ] = None,
    as_json: Annotated[bool, JSON_OPTION] = False,
) -> None:
    """Per upstream source: requests, hits, misses, errors, credits; and from the vendor call rows:
    asked, billed, found, hit rate, spend (in each source's price unit), cost per found number."""
    if by not in (None, "country"):
        typer.echo(f"error: --by accepts only 'country', not {by!r}", err=True)
        raise typer.Exit(2)
    specs = _specs()
    start = since.date() if since else utcnow().date() - dt.timedelta(days=days - 1) if days else None
    with _connection() as conn:
        rows = service.stats(conn, specs, start)
        spent = service.spend(conn, specs, start, by_country=by == "country")
    if by == "country":
        _print_by_country(spent, as_json)
        return
    per_source = {row.source: row for row in spent}
    public_url = get_settings().public_url
    unasked = {spec.name: reason for spec in specs if (reason := not_asked(spec, public_url))}
    if as_json:
        empty: dict[str, object] = {}
        print_json([
            {"source": row.source, **row.as_row(),
             **(_spend_row(per_source[row.source]) if row.source in per_source else empty),
             **({"not_asked": unasked[row.source]} if row.source in unasked else empty)}
            for row in rows
        ])
        return
    table = Table("source", *(name.replace("_", " ") for name in STAT_COLUMNS), *SPEND_COLUMNS)
    for row in rows:
        cells = (
            _spend_cells(per_source[row.source]) if row.source in per_source else ["-"] * len(SPEND_COLUMNS)
        )
        table.add_row(row.source, *(f"{value:,}" for value in row.as_row().values()), *cells)
    Console(width=WIDE).print(table)
    for name, reason in unasked.items():
        typer.echo(f"{name}: {reason}")
    if not rows:
        typer.echo("no upstream source is configured")


def _print_by_country(spent: list[repo.CallStats], as_json: bool) -> None:
    if as_json:
        print_json([{"source": row.source, "country": row.country, **_spend_row(row)} for row in spent])
        return
    table = Table("source", "country", *SPEND_COLUMNS)
    for row in spent:
        table.add_row(row.source, row.country or "-", *_spend_cells(row))
    Console(width=WIDE).print(table)
    if not spent:
        typer.echo("no vendor call in the period")


@sources_app.command("reset")
def reset_command(
    name: Annotated[str, typer.Argument(help="The source's name in trova.toml.")],
    forget_misses: Annotated[
        bool, typer.Option("--forget-misses", help="Also ask it again about searches it had nothing for.")
    ] = False,
) -> None:
    """Close a source's circuit breaker and clear its exhausted (402) or backing-off (429) state."""
    specs = _specs()
    if name not in {spec.name for spec in specs if spec.kind != "local"}:
        fail(f"no upstream source named {name!r} in the configuration")
    with _connection() as conn:
        service.reset(conn, name, utcnow(), forget_misses=forget_misses)
    typer.echo(f"source {name} reset")


def register(app: typer.Typer) -> None:
    """Add ``trova sources …`` to ``app``."""
    app.add_typer(sources_app)
