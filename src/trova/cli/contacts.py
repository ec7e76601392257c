"""``trova import``: load contact files (CSV/TSV/JSON Lines, optionally gzipped) into the contact store."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.exc import SQLAlchemyError

from trova.cli.common import fail, open_database, settings, sqlite_path
from trova.contacts.models import ImportReport, RowProblem
from trova.errors import ConfigError, TrovaError
from trova.ingest.service import import_paths
from trova.store import Database
from trova.store.migrate import current_revision, upgrade


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("import")(import_command)


def import_command(
    files: Annotated[
        list[Path], typer.Argument(help="CSV, TSV, semicolon or JSON Lines files, optionally .gz")
    ],
    source: Annotated[
        str | None,
        typer.Option("--source", help="Source name for rows without a source column (default: file name)"),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Read, check and count; write nothing")] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Do not list skipped rows, only the summary")
    ] = False,
) -> None:
    """Import contact records; skipped rows are listed on stderr as file:line: reason."""
    db = _dry_run_store() if dry_run else open_database()
    try:
        report = import_paths(
            db, files, source=source, dry_run=dry_run, on_problem=None if quiet else _print_problem
        )
    except ConfigError:
        raise
    except TrovaError as exc:
        _fail(exc.message)
    except SQLAlchemyError as exc:
        _fail(f"database error: {str(exc).splitlines()[0]}")
    finally:
        db.dispose()
    typer.echo(summary(report))


def _dry_run_store() -> Database:
    """The configured store, read only; a missing or unmigrated one is an empty scratch store."""
    url = settings().database_url
    path = sqlite_path(url)
    if path is not None and not path.exists():
        return _empty_store()
    db = Database(url)
    if current_revision(db) is None:
        db.dispose()
        return _empty_store()
    return db


def _empty_store() -> Database:
    """A dry run against a database with no schema yet is a dry run against an empty store."""
    scratch = Path(tempfile.mkdtemp(prefix="trova-dry-run-")) / "empty.db"
    db = Database(f"sqlite:///{scratch}")
    upgrade(db)
    return db


def _print_problem(problem: RowProblem) -> None:
    print(problem, file=sys.stderr)


def _fail(message: str) -> None:
    fail(message)


def summary(report: ImportReport) -> str:
    """The closing summary: rows read, records stored, people created or updated, skips by reason."""
    verb = "would be " if report.dry_run else ""
    lines = [
        f"{'Dry run: nothing written. ' if report.dry_run else ''}"
        f"{report.rows_read:,} rows read from {len(report.files)} file(s) in {report.elapsed_s:.1f}s",
        f"records {verb}stored: {report.records_stored:,} (already known or repeated: {report.duplicates:,})",
        f"people {verb}created: {report.people_created:,}, {verb}updated: {report.people_updated:,}",
        f"rows skipped: {report.rows_skipped:,}",
    ]
    lines += [f"  {reason}: {count:,}" for reason, count in sorted(report.skipped.items())]
    return "\n".join(lines)
