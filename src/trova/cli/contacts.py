"""``trova import``: load contact files (CSV/TSV/JSON Lines, optionally gzipped, or XLSX) into the
contact store, showing the column mapping of each file and, on a terminal, a progress bar."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable
from sqlalchemy.exc import SQLAlchemyError

from trova.cli.common import EXIT_USAGE, fail, open_database, settings, sqlite_path
from trova.contacts.models import ImportReport, RowProblem
from trova.contacts.readers import SniffedFile
from trova.errors import ConfigError, TrovaError, UsageError
from trova.ingest.service import ProgressHandler, import_paths
from trova.people.columns import PHONE_FIELDS
from trova.store import Database
from trova.store.migrate import current_revision, upgrade


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("import")(import_command)


def import_command(
    files: Annotated[
        list[Path], typer.Argument(help="CSV, TSV, semicolon or JSON Lines files (optionally .gz), or XLSX")
    ],
    maps: Annotated[
        list[str] | None,
        typer.Option("--map", metavar="COLUMN=FIELD", help="Read a column as a field ('-': ignore it)."),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option("--source", help="Source name for rows without a source column (default: file name)"),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Read, check and count; write nothing")] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Do not list skipped rows, only the summary")
    ] = False,
) -> None:
    """Import contact records: the column mapping of each file (on a terminal or with --dry-run), then
    skipped rows on stderr as file:line: reason, and a summary."""
    db = _dry_run_store() if dry_run else open_database()
    err = Console(stderr=True, highlight=False)
    try:
        show = not quiet and (dry_run or err.is_terminal)
        with _progress(err, mappings=show) as (show_files, on_progress):
            report = import_paths(
                db,
                files,
                source=source,
                dry_run=dry_run,
                on_problem=None if quiet else _print_problem,
                overrides=maps or [],
                on_files=show_files,
                on_progress=on_progress,
            )
    except UsageError as exc:
        fail(exc.message, EXIT_USAGE)
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


def field_label(field: str | None) -> str:
    """How the mapping table names a field: a phone column with its kind, ``phone (mobile)``."""
    if field is None:
        return "[dim](ignored)[/dim]"
    return f"phone ({field})" if field in PHONE_FIELDS and field != "phone" else field


def show_mapping(file: SniffedFile, console: Console) -> None:
    """The field each column of ``file`` is read as (JSON Lines: the keys of its first object)."""
    table = RichTable(title=f"Column mapping: {escape(file.name)}", title_justify="left")
    table.add_column("column")
    table.add_column("field")
    for column, field in zip(file.columns, file.mapping, strict=True):
        table.add_row(escape(column), field_label(field))
    console.print(table)


@contextmanager
def _progress(
    console: Console, *, mappings: bool
) -> Iterator[tuple[Callable[[Sequence[SniffedFile]], None], ProgressHandler | None]]:
    """``(show the files, the progress handler)``: each file's mapping unless ``mappings`` is false,
    and a rich bar per file on a terminal (none in a script)."""
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("line {task.completed:,.0f}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    tasks: dict[str, TaskID] = {}

    def show_files(files: Sequence[SniffedFile]) -> None:
        for file in files if mappings else ():
            show_mapping(file, console)
        if console.is_terminal:
            for file in files:
                tasks[file.name] = bar.add_task(escape(file.name), total=_lines(file))
            bar.start()

    def advance(file: SniffedFile, line: int) -> None:
        if file.name in tasks:
            bar.update(tasks[file.name], completed=line)

    try:
        yield show_files, advance if console.is_terminal else None
        for task in bar.tasks:
            bar.update(task.id, completed=task.total or task.completed)
    finally:
        if tasks:
            bar.stop()


def _lines(file: SniffedFile) -> int | None:
    """The lines of a plain text file (a quick count for the bar's total); None for gzip or XLSX."""
    if file.compressed or file.format == "xlsx":
        return None
    count, last = 0, b"\n"
    with file.path.open("rb") as handle:
        while block := handle.read(1 << 20):
            count += block.count(b"\n")
            last = block[-1:]
    return count + (last != b"\n")


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
    unusable = sum(report.unusable_numbers.values())
    lines.append(f"numbers read: {report.numbers_read:,}, never returnable: {unusable:,}")
    lines += [f"  {reason}: {count:,}" for reason, count in _by_count(report.unusable_numbers)]
    return "\n".join(lines)


def _by_count(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))
