"""``trova suppress``, ``trova erase`` and ``trova audit``: the operator's privacy controls."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import orjson
import typer

from trova.cli.accounts import fail, write_transaction
from trova.contacts.models import RowProblem
from trova.erasure import reports, selectors
from trova.erasure import service as erasure
from trova.erasure.models import ErasureReport
from trova.errors import TrovaError
from trova.privacy import suppressions
from trova.privacy.models import AuditEvent, Selector, Subject, Suppression
from trova.store import utcnow

FILE_CHUNK_SUBJECTS = 5000

suppress_app = typer.Typer(
    name="suppress",
    help="The suppression list: people and numbers Trova never returns (from any source) and never stores.",
    invoke_without_command=True,
)

Linkedin = Annotated[str | None, typer.Option("--linkedin", help="LinkedIn profile URL.")]
Phone = Annotated[str | None, typer.Option("--phone", help="Phone number, best as +<country code>….")]
Country = Annotated[
    str | None, typer.Option("--country", help="Two-letter country of a --phone written without +code.")
]
First = Annotated[
    str | None, typer.Option("--first", help="First name (with --last and --domain/--company).")
]
Last = Annotated[str | None, typer.Option("--last", help="Last name.")]
Domain = Annotated[str | None, typer.Option("--domain", help="Company domain or website.")]
Company = Annotated[str | None, typer.Option("--company", help="Company name.")]


def _selector(
    linkedin: str | None,
    phone: str | None,
    country: str | None,
    first: str | None,
    last: str | None,
    domain: str | None,
    company: str | None,
) -> Selector:
    try:
        return selectors.selector_from(
            linkedin=linkedin,
            phone=phone,
            country=country,
            first=first,
            last=last,
            domain=domain,
            company=company,
        )
    except TrovaError as error:
        fail(error.message)
        raise


def _entry_line(entry: Suppression) -> str:
    note = f"  ({entry.note})" if entry.note else ""
    when = entry.created_at.strftime("%Y-%m-%d %H:%M")
    return f"#{entry.id}\t{entry.kind}\t{entry.label}\t{entry.origin}\t{when}{note}"


@suppress_app.callback()
def suppress(
    ctx: typer.Context,
    linkedin: Linkedin = None,
    phone: Phone = None,
    country: Country = None,
    first: First = None,
    last: Last = None,
    domain: Domain = None,
    company: Company = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file", help="CSV or JSON Lines file with the import's columns: every row is suppressed."
        ),
    ] = None,
    note: Annotated[str | None, typer.Option("--note", help="Why (kept with the entry).")] = None,
) -> None:
    """Suppress a person (--linkedin URL, or --first/--last with --domain or --company), a number
    (--phone), or every row of a --file; ``list`` and ``remove ID`` manage the list.

    A suppressed person or number is answered not_found and costs nothing, whichever source holds
    it, and is skipped by imports. The list keeps digests of the keys, not the keys themselves.
    """
    if ctx.invoked_subcommand is not None:
        return
    if file is not None:
        _suppress_file(file, note)
        return
    selector = _selector(linkedin, phone, country, first, last, domain, company)
    with write_transaction() as conn:
        added, existing = suppressions.suppress(conn, selector.subjects(), note=note, now=utcnow())
    for entry in added:
        typer.echo(f"suppressed {_entry_line(entry)}")
    for entry in existing:
        typer.echo(f"already suppressed {_entry_line(entry)}")


def _suppress_file(path: Path, note: str | None) -> None:
    rows = skipped = 0
    added: list[Suppression] = []
    existing: list[Suppression] = []
    pending: list[Subject] = []
    with write_transaction() as conn:
        for item in selectors.subjects_from_file(path):
            rows += 1
            if isinstance(item, RowProblem):
                skipped += 1
                print(item, file=sys.stderr)
                continue
            pending += item
            if len(pending) >= FILE_CHUNK_SUBJECTS:
                new, old = suppressions.suppress(conn, pending, origin="file", note=note, now=utcnow())
                added, existing, pending = added + new, existing + old, []
        new, old = suppressions.suppress(conn, pending, origin="file", note=note, now=utcnow())
    added, existing = added + new, existing + old
    typer.echo(
        f"{rows:,} rows read from {path.name}: {len(added):,} entries added, "
        f"{len(existing):,} already suppressed, {skipped:,} rows skipped"
    )


@suppress_app.command("list")
def list_command() -> None:
    """Every entry: id, kind, masked reminder, origin (manual, file, erasure), time (UTC), note."""
    with write_transaction() as conn:
        entries = suppressions.list_suppressions(conn)
    if not entries:
        typer.echo("the suppression list is empty")
    for entry in entries:
        typer.echo(_entry_line(entry))


@suppress_app.command("remove")
def remove_command(
    entry_id: Annotated[int, typer.Argument(help="Entry id, as shown by trova suppress list.")],
) -> None:
    """Take one entry off the list: the person or number may be returned (and imported) again."""
    with write_transaction() as conn:
        removed = suppressions.unsuppress(conn, entry_id)
    typer.echo(f"removed {_entry_line(removed)}")


def erase_command(
    linkedin: Linkedin = None,
    phone: Phone = None,
    country: Country = None,
    first: First = None,
    last: Last = None,
    domain: Domain = None,
    company: Company = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", help="CSV or JSON Lines file with the import's columns: every row is erased."),
    ] = None,
) -> None:
    """Erase a person (--linkedin, or --first/--last with --domain or --company), a number (--phone),
    or everyone a --file names, in one transaction.

    Deletes their contact records and phone observations (upstream answers kept in the store
    included), removes the number from stored search results (the ledger is kept), redacts it from
    webhook payloads and the audit, and suppresses every key so nothing brings it back.
    """
    if file is not None:
        _erase_file(file)
        return
    selector = _selector(linkedin, phone, country, first, last, domain, company)
    with write_transaction() as conn:
        report = erasure.erase(conn, selector, now=utcnow())
    typer.echo(render_erasure(report))


def _erase_file(path: Path) -> None:
    rows = skipped = 0
    named: list[Selector] = []
    with write_transaction() as conn:
        for item in selectors.selectors_from_file(path):
            rows += 1
            if isinstance(item, RowProblem):
                skipped += 1
                print(item, file=sys.stderr)
            else:
                named += item
        report = erasure.erase_many(conn, named, now=utcnow())
    typer.echo(f"{rows:,} rows read from {path.name}, {skipped:,} skipped")
    typer.echo(render_erasure(report))


def render_erasure(report: ErasureReport) -> str:
    """What ``trova erase`` prints: every kind of record and how many were erased or redacted."""
    lines = [
        f"people deleted: {report.people}",
        f"phone observations deleted: {report.phone_observations}",
        f"search results with the number removed: {report.search_results} (ledger kept)",
        f"webhook payloads redacted: {report.webhook_payloads}",
        f"webhook responses redacted: {report.webhook_responses}",
        f"audit entries redacted: {report.audit_entries_redacted} (who and when kept)",
        f"suppression entries: {len(report.suppressions)}",
    ]
    lines += [f"  {_entry_line(entry)}" for entry in report.suppressions]
    return "\n".join(lines)


def audit_command(
    linkedin: Linkedin = None,
    phone: Phone = None,
    country: Country = None,
    first: First = None,
    last: Last = None,
    domain: Domain = None,
    company: Company = None,
    account: Annotated[
        str | None, typer.Option("--account", help="List what this account was shown.")
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="With --account: the newest N.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line, for machines.")] = False,
) -> None:
    """Who was shown a person's number, or a given number, and when (a subject access request), or with
    --account NAME every number that account was shown. Entries are kept TROVA_AUDIT_RETENTION_DAYS."""
    if account is not None and any((linkedin, phone, first, last, domain, company)):
        fail("give either --account or a person/number, not both")
    selector = (
        None if account is not None else _selector(linkedin, phone, country, first, last, domain, company)
    )
    with write_transaction() as conn:
        if selector is None:
            assert account is not None
            events = reports.audit_of_account(conn, account, limit=limit)
        else:
            events = reports.audit_of_subject(conn, selector)
    if as_json:
        for event in events:
            typer.echo(orjson.dumps(_event_json(event)).decode())
        return
    typer.echo(render_audit(events))


def _event_json(event: AuditEvent) -> dict[str, object]:
    return {
        "id": event.id,
        "time": event.created_at.isoformat(),
        "account": event.account_name,
        "number": event.number,
        "sources": list(event.sources),
        "batch_id": event.batch_id,
        "search_id": event.search_id,
        "person": event.person_key,
    }


def render_audit(events: list[AuditEvent]) -> str:
    """A header, one tab-separated line per event (oldest first), and the accounts that saw it."""
    if not events:
        return "no audit entries"
    lines = ["time (UTC)\taccount\tnumber\tsources\tbatch\tsearch"]
    lines += [
        "\t".join(
            (
                event.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                event.account_name,
                event.number or "(erased)",
                ",".join(event.sources) or "-",
                event.batch_id or "-",
                event.search_id or "-",
            )
        )
        for event in events
    ]
    accounts = sorted({event.account_name for event in events})
    lines.append(f"{len(events)} answer(s) to {len(accounts)} account(s): {', '.join(accounts)}")
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    """Add ``suppress``, ``erase`` and ``audit`` to ``app``."""
    app.add_typer(suppress_app, name="suppress")
    app.command("erase")(erase_command)
    app.command("audit")(audit_command)
