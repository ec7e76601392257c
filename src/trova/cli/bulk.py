"""``trova bulk`` (a lead file in, the same file with phone numbers out) and ``trova find`` (one search).

Both talk to a Trova server (or Enrow) through :mod:`trova.client`; human-readable progress goes to
stderr, results and reports to stdout. A fatal error is one line on stderr and a non-zero exit:
1 error, 2 bad usage, 3 insufficient credits (the rows done so far are written), 130 interrupted.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table as RichTable

from trova.bulk.engine import (
    MAX_BATCH_SIZE,
    BulkError,
    Interrupted,
    Journal,
    Outcome,
    Plan,
    Runner,
    RunOptions,
    Summary,
    build_plan,
    state_path,
    write_output,
)
from trova.bulk.engine import Progress as RunProgress
from trova.bulk.tabular import (
    SEARCH_FIELDS,
    Table,
    apply_overrides,
    auto_mapping,
    identifies_someone,
    output_format,
)
from trova.cli.common import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_NO_CREDITS, EXIT_USAGE
from trova.cli.common import fail as common_fail
from trova.client import ApiError, Client, ClientError, InsufficientCreditsError, PhoneResult
from trova.errors import TableError, UsageError

__all__ = ["EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_NO_CREDITS", "EXIT_USAGE"]
DEFAULT_PRICE = 40
NO_KEY = "no API key: pass --api-key or set TROVA_API_KEY (./dev serve --demo prints the demo key)"

err = Console(stderr=True, highlight=False)
out = Console(highlight=False)


def fail(command: str, message: str, code: int = EXIT_ERROR) -> NoReturn:
    """One line on stderr, ``error: <message>``, as every command says it; exit ``code``."""
    common_fail(message, code)


def describe_error(exc: Exception) -> str:
    if isinstance(exc, ApiError):
        return f"{exc.message} (HTTP {exc.status})"
    return str(exc)


@contextmanager
def one_line_errors(command: str) -> Iterator[None]:
    """Every expected failure becomes one readable line on stderr and a non-zero exit code."""
    try:
        yield
    except UsageError as exc:
        fail(command, exc.message, EXIT_USAGE)
    except (ClientError, TableError) as exc:
        fail(command, describe_error(exc))
    except OSError as exc:
        fail(command, f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))
    except KeyboardInterrupt:
        fail(command, "interrupted", EXIT_INTERRUPTED)


# --- trova bulk -----------------------------------------------------------------------------------


def show_mapping(columns: list[str], mapping: Mapping[str, str], console: Console) -> None:
    table = RichTable(title="Column mapping", title_justify="left")
    table.add_column("column")
    table.add_column("search field")
    for column in columns:
        table.add_row(escape(column), mapping.get(column, "[dim](kept, not searched)[/dim]"))
    console.print(table)


def show_plan(plan: Plan, journal: Journal | None, price: int, console: Console) -> None:
    usable = plan.rows - plan.unusable_rows
    console.print(f"rows: {plan.rows:,}  usable: {usable:,}  unusable: {plan.unusable_rows:,}")
    console.print(f"unique searches: {len(plan.searches):,} in {plan.chunk_count:,} batch(es) "
                  f"of at most {plan.batch_size:,}")
    for reason, count in plan.unusable.most_common():
        console.print(f"  {count:,} row(s): {escape(reason)}")
    for example in plan.examples:
        console.print(f"  line {example.line}: {escape(example.reason)}")
    if plan.unusable_rows > len(plan.examples):
        console.print(f"  … {plan.unusable_rows - len(plan.examples):,} more unusable row(s)")
    remaining = len(plan.searches)
    if journal is not None and journal.chunks_done:
        remaining -= sum(len(plan.chunk_range(c)) for c, s in enumerate(journal.chunks) if s.done)
        console.print(f"already done (state file): {journal.chunks_done} of {plan.chunk_count} batch(es)")
    console.print(f"maximum cost: {remaining:,} searches x {price} credits = {remaining * price:,} credits "
                  "(searches that find nothing are refunded)")


def plan_file(
    input_path: Path, output: Path, maps: list[str], batch_size: int, encoding: str
) -> tuple[Table, Plan]:
    if output.resolve() == input_path.resolve():
        raise UsageError("the output must not be the input file")
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise UsageError(f"--batch-size {batch_size}: must be between 1 and {MAX_BATCH_SIZE}")
    check_encoding(encoding)
    table = Table.open(input_path, encoding)
    columns = table.scan_columns()
    try:
        mapping = apply_overrides(auto_mapping(columns), columns, maps)
    except TableError as exc:
        raise UsageError(exc.message) from None
    show_mapping(columns, mapping, err)
    if not identifies_someone(set(mapping.values())):
        raise BulkError(
            "no column identifies a person (a LinkedIn URL, or names plus a company name or domain); "
            f"map some with --map COLUMN=FIELD (fields: {', '.join(SEARCH_FIELDS)})"
        )
    return table, build_plan(table, mapping, batch_size)


def retry_notice(console: Console) -> Callable[[str, float], None] | None:
    """On a terminal, say each wait before a retry (429, 5xx, timeout); silent in scripts."""
    if not console.is_terminal:
        return None

    def notice(reason: str, delay_s: float) -> None:
        console.print(f"[yellow]{escape(reason)}: retrying in {delay_s:.0f} s[/yellow]")

    return notice


def check_encoding(encoding: str) -> None:
    """An unknown --encoding is a usage error naming what is accepted."""
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise UsageError(
            f"--encoding {encoding!r}: unknown encoding (e.g. utf-8, utf-8-sig, latin-1, cp1252, utf-16)"
        ) from None


def progress_bar(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]phones[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TextColumn("found {task.fields[found]:,}"),
        TimeRemainingColumn(),
        console=console,
    )


def run_batches(client: Client, plan: Plan, journal: Journal, options: RunOptions) -> Outcome:
    with progress_bar(err) as bar:
        task = bar.add_task("phones", total=plan.rows, found=0)

        def show(progress: RunProgress) -> None:
            bar.update(task, completed=progress.rows_done, found=progress.rows_found)

        return Runner(client, plan, journal, options, on_progress=show).run()


def summary_line(summary: Summary, output: Path) -> str:
    s = summary.statuses
    parts = [f"{s['found']:,} found", f"{s['not_found']:,} not found",
             f"{s['invalid_input']:,} invalid input"]
    if s["pending"]:
        parts.append(f"{s['pending']:,} pending")
    return f"{summary.rows:,} rows: {', '.join(parts)} → {output}"


MAP_OPTION = typer.Option("--map", metavar="COLUMN=FIELD", help="Map a column to a field ('-': ignore it).")
DRY_RUN_OPTION = typer.Option("--dry-run", help="Show the mapping, counts and maximum cost; send nothing.")
PRICE_OPTION = typer.Option(min=0, help="Credits per phone found, for the --dry-run cost.")
BATCH_SIZE_OPTION = typer.Option(help=f"Searches per batch (at most {MAX_BATCH_SIZE}).")


def bulk(
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="CSV, TSV or JSON Lines (.gz too).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output file (format from its suffix).")],
    maps: Annotated[list[str] | None, MAP_OPTION] = None,
    dry_run: Annotated[bool, DRY_RUN_OPTION] = False,
    webhook: Annotated[str | None, typer.Option(help="URL notified as each batch finishes.")] = None,
    base_url: Annotated[str | None, typer.Option(envvar="TROVA_BASE_URL", help="Server URL.")] = None,
    api_key: Annotated[str | None, typer.Option(envvar="TROVA_API_KEY", help="API key.")] = None,
    batch_size: Annotated[int, BATCH_SIZE_OPTION] = MAX_BATCH_SIZE,
    max_in_flight: Annotated[int, typer.Option(min=1, help="Batches running at once.")] = 4,
    poll_interval: Annotated[float, typer.Option(min=0.0, help="Seconds between progress checks.")] = 2.0,
    price_per_phone: Annotated[int, PRICE_OPTION] = DEFAULT_PRICE,
    encoding: Annotated[str, typer.Option(help="Input text encoding.")] = "utf-8-sig",
    restart: Annotated[
        bool, typer.Option("--restart", help="Forget the state of an earlier run (pays again).")
    ] = False,
    keep_state: Annotated[
        bool, typer.Option("--keep-state", help="Keep the state file (found numbers) after a complete run.")
    ] = False,
) -> None:
    """Find the phone numbers of every row of a lead file; resumable: re-run the same command to continue."""
    with one_line_errors("bulk"):
        table, plan = plan_file(input_path, output, maps or [], batch_size, encoding)
        state = state_path(output)
        if dry_run:
            journal = None if restart else Journal(state, plan, create=False)
            show_plan(plan, journal, price_per_phone, out)
            return
        if restart:
            state.unlink(missing_ok=True)
        client = Client(api_key, base_url, on_retry=retry_notice(err))
        if client.config.api_key is None:
            raise UsageError(NO_KEY)
        journal = Journal(state, plan)
        options = RunOptions(webhook=webhook, max_in_flight=max_in_flight, poll_interval_s=poll_interval)
        fmt = output_format(output, table.fmt)
        credits: list[int] = []
        try:
            with client:
                credits.append(client.account().credits)
                outcome = run_batches(client, plan, journal, options)
                credits.append(client.account().credits)
        except KeyboardInterrupt:
            outcome = Outcome(stop=Interrupted("interrupted"))
        except ClientError as exc:
            outcome = Outcome(stop=exc)
        summary = write_output(table, plan, journal, output, fmt)
        report(outcome, summary, output, state, keep_state=keep_state)
        if len(credits) == 2:
            out.print(f"credits: {credits[0] - credits[1]:,} spent, {credits[1]:,} left")


def report(
    outcome: Outcome, summary: Summary, output: Path, state: Path, *, keep_state: bool = False
) -> None:
    done = summary.rows - summary.statuses["pending"]
    if isinstance(outcome.stop, InsufficientCreditsError):
        fail("bulk", f"insufficient credits: {done:,} of {summary.rows:,} rows done, written to {output}; "
                     "add credits and re-run the same command to continue", EXIT_NO_CREDITS)
    if outcome.stop is not None:
        reason = describe_error(outcome.stop)
        fail("bulk", f"{reason}: {done:,} of {summary.rows:,} rows done, written to {output}; "
                     "re-run the same command to continue",
             EXIT_INTERRUPTED if isinstance(outcome.stop, Interrupted) else EXIT_ERROR)
    if outcome.failed_batches:
        fail("bulk", f"{outcome.failed_batches} batch(es) failed on the server (refunded); {done:,} of "
                     f"{summary.rows:,} rows done, written to {output}; re-run the same command to retry")
    out.print(escape(summary_line(summary, output)))
    if keep_state or summary.statuses["pending"]:
        kept = escape(str(state))
        err.print(f"[dim]state kept in {kept}: re-running is free; --restart starts afresh[/dim]")
    else:
        state.unlink(missing_ok=True)  # it holds the numbers found: nothing to resume, nothing to keep


# --- trova find -----------------------------------------------------------------------------------


def find_search(
    linkedin: str | None, first: str | None, last: str | None, domain: str | None, company: str | None,
    full: str | None = None,
) -> dict[str, str]:
    if linkedin:
        return {"linkedin_url": linkedin}
    names: dict[str, str] | None = None
    if first and last:
        names = {"first_name": first, "last_name": last}
    elif full:
        names = {"full_name": full}
    if names and (domain or company):
        search = dict(names)
        if domain:
            search["company_domain"] = domain
        if company:
            search["company_name"] = company
        return search
    fail("find", "give --linkedin URL, or --first and --last (or --full) with --domain or --company",
         EXIT_USAGE)


def show_result(result: PhoneResult, console: Console) -> None:
    table = RichTable(show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    rows: list[tuple[str, Any]] = [
        ("qualification", result.qualification), ("number", result.number), ("country", result.country),
        ("line type", result.line_type), ("search id", result.id),
    ]
    for name, value in rows:
        if value:
            table.add_row(name, escape(str(value)))
    console.print(table)


def find(
    linkedin: Annotated[str | None, typer.Option(help="LinkedIn profile URL.")] = None,
    first: Annotated[str | None, typer.Option(help="First name.")] = None,
    last: Annotated[str | None, typer.Option(help="Last name.")] = None,
    full: Annotated[str | None, typer.Option(help="Full name, when first/last are not given.")] = None,
    domain: Annotated[str | None, typer.Option(help="Company domain or website.")] = None,
    company: Annotated[str | None, typer.Option(help="Company name.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    timeout: Annotated[float, typer.Option(min=1.0, help="Seconds to wait for the result.")] = 300.0,
    base_url: Annotated[str | None, typer.Option(envvar="TROVA_BASE_URL", help="Server URL.")] = None,
    api_key: Annotated[str | None, typer.Option(envvar="TROVA_API_KEY", help="API key.")] = None,
) -> None:
    """Find one person's phone number and wait for the answer."""
    search = find_search(linkedin, first, last, domain, company, full)
    with one_line_errors("find"), Client(api_key, base_url, on_retry=retry_notice(err)) as client:
        if client.config.api_key is None:
            raise UsageError(NO_KEY)
        result = client.find_and_wait(search, timeout_s=timeout)
    if as_json:
        typer.echo(orjson.dumps(dict(result.raw), option=orjson.OPT_INDENT_2).decode())
    else:
        show_result(result, out)


def register(app: typer.Typer) -> None:
    """Add ``trova bulk`` and ``trova find`` to ``app``."""
    app.command("bulk")(bulk)
    app.command("find")(find)
