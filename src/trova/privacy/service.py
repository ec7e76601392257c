"""Privacy controls: the suppression list, erasure, and the audit of every revealed number.

Everything is matched on *subjects* (``models.Subject``): the normalised keys the finder itself
compares, so ``trova suppress --linkedin https://LinkedIn.com/in/Ada/`` blocks every spelling of
that profile. The finder asks :func:`blocked_searches` / :func:`blocked_people` before it resolves
or sends anything upstream, and passes its answers through :func:`screen_answers` last; the import
passes its records through :func:`screen_records`; job steps call :func:`audit_outcomes` in the
transaction that stores the results.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection

from trova.accounts import repository as accounts_repo
from trova.accounts import service as accounts
from trova.batches import repository as batches_repo
from trova.batches.models import SearchOutcome
from trova.contacts import lookups as contacts_lookups
from trova.contacts import repository as contacts_repo
from trova.contacts.models import ContactRecord, RawRow, RowProblem
from trova.contacts.readers import read_rows, sniff
from trova.errors import InvalidSelector, SuppressionNotFound
from trova.people.keys import name_pairs, person_id_of, person_key
from trova.people.models import Answer, Search
from trova.people.normalise import (
    company_key,
    linkedin_key,
    name_key,
    read_phone,
    registrable_domain,
    split_full_name,
    split_phone_cell,
)
from trova.privacy import repository as repo
from trova.privacy.models import (
    AuditEvent,
    ErasureReport,
    Origin,
    Reveal,
    Selector,
    Subject,
    Suppression,
    linkedin_subject,
    name_subjects,
    phone_subject,
)
from trova.webhooks import repository as webhooks_repo

SUPPRESSED = "suppressed"
"""``Answer.reason`` of a search whose person or number is on the suppression list."""
FILE_CHUNK_ROWS = 5000

# --- selectors -------------------------------------------------------------------------------------


def selector_from(
    *,
    linkedin: str | None = None,
    phone: str | None = None,
    country: str | None = None,
    first: str | None = None,
    last: str | None = None,
    domain: str | None = None,
    company: str | None = None,
) -> Selector:
    """The operator's selection, normalised exactly as the finder normalises searches.

    Raises :class:`InvalidSelector` (one readable message) for a value that cannot be read or a
    selection that names nobody.
    """
    selector = Selector(
        linkedin_key=_linkedin(linkedin) if linkedin else None,
        e164=_phone(phone, country) if phone else None,
        first_key=_name(first, "--first") if first else None,
        last_key=_name(last, "--last") if last else None,
        domain=_domain(domain) if domain else None,
        company_key=_company(company) if company else None,
    )
    names_partly = (first or last or domain or company) and not (
        selector.first_key and selector.last_key and (selector.domain or selector.company_key)
    )
    if names_partly or not selector.subjects():
        raise InvalidSelector()
    return selector


def _linkedin(text: str) -> str:
    key = linkedin_key(text)
    if key is None:
        raise InvalidSelector(f"not a LinkedIn profile URL: {text!r}")
    return key


def _phone(text: str, country: str | None) -> str:
    reading = read_phone(text, country.strip().upper() if country else None)
    if reading is None:
        hint = "" if country else " (write it as +<country code>… or give --country)"
        raise InvalidSelector(f"not a phone number: {text!r}{hint}")
    return reading.e164


def _name(text: str, option: str) -> str:
    key = name_key(text)
    if not key:
        raise InvalidSelector(f"{option} is empty once normalised: {text!r}")
    return key


def _domain(text: str) -> str:
    key = registrable_domain(text)
    if key is None:
        raise InvalidSelector(f"not a company domain: {text!r}")
    return key


def _company(text: str) -> str:
    key = company_key(text)
    if key is None:
        raise InvalidSelector(f"not a company name: {text!r}")
    return key


# --- subjects of searches, people and records --------------------------------------------------------


def search_subjects(search: Search) -> list[Subject]:
    """Every subject a finder search names: its profile and each reading of its names at its company."""
    found = [linkedin_subject(search.linkedin_key)] if search.linkedin_key else []
    for first, last in name_pairs(search):
        found += name_subjects(
            first,
            last,
            domains=(search.company_domain,) if search.company_domain else (),
            company_keys=(search.company_key,) if search.company_key else (),
        )
    return found


def person_subjects(record: contacts_lookups.PersonRecord) -> list[Subject]:
    """Every subject a store person is known by: profile, and each name at each company key/domain."""
    found = [linkedin_subject(record.linkedin_key)] if record.linkedin_key else []
    for first, last in record.names:
        found += name_subjects(first, last, domains=record.company_domains, company_keys=record.company_names)
    return found


def record_subjects(record: ContactRecord) -> list[Subject]:
    """The person subjects of an imported row (its numbers are screened one by one)."""
    found = [linkedin_subject(record.linkedin_key)] if record.linkedin_key else []
    if record.first_key and record.last_key:
        found += name_subjects(
            record.first_key,
            record.last_key,
            domains=(record.domain,) if record.domain else (),
            company_keys=(record.company_key,) if record.company_key else (),
        )
    return found


def _digests(subjects: Iterable[Subject]) -> set[str]:
    return {subject.digest for subject in subjects}


# --- screening (finder and import) -----------------------------------------------------------------


PERSON_KINDS = frozenset({"linkedin", "name_domain", "name_company"})


def active_kinds(conn: Connection) -> frozenset[str]:
    """The subject kinds on the suppression list (one tiny query): an empty list costs nothing more."""
    return repo.suppressed_kinds(conn)


def blocked_searches(
    conn: Connection, searches: Collection[Search], kinds: frozenset[str] | None = None
) -> set[Search]:
    """The searches that name a suppressed person, in one lookup for the whole batch."""
    kinds = active_kinds(conn) if kinds is None else kinds
    if not kinds & PERSON_KINDS:
        return set()
    subjects = {search: _digests(search_subjects(search)) for search in searches}
    suppressed = repo.suppressed_digests(conn, set().union(*subjects.values()))
    return {search for search, digests in subjects.items() if digests & suppressed}


def blocked_people(
    conn: Connection, person_ids: Collection[int], kinds: frozenset[str] | None = None
) -> set[int]:
    """The store people known by a suppressed subject (profile, or a name at one of their companies).

    A search may name someone by one key (a name at a company) while the suppression names them by
    another (their profile): this is what catches it, before any upstream source is asked.
    """
    kinds = active_kinds(conn) if kinds is None else kinds
    if not person_ids or not kinds & PERSON_KINDS:
        return set()
    records = contacts_lookups.describe_people(conn, person_ids)
    subjects = {person: _digests(person_subjects(record)) for person, record in records.items()}
    suppressed = repo.suppressed_digests(conn, set().union(*subjects.values()))
    return {person for person, digests in subjects.items() if digests & suppressed}


def suppressed_answer() -> Answer:
    """Not found, charged nothing: what a suppressed person or number is answered with."""
    return Answer(person_key=None, reason=SUPPRESSED)


def screen_answers(conn: Connection, answers: Sequence[Answer], *, check_people: bool = True) -> list[Answer]:
    """The answers with every suppressed number or store person turned into :func:`suppressed_answer`.

    The last step of the finder, whichever source an answer came from: one query when the list is
    empty, a few per batch otherwise. ``check_people=False`` when every store person answered was
    already screened by :func:`blocked_people` in this resolution.
    """
    kinds = active_kinds(conn)
    found = [answer for answer in answers if answer.found]
    if not kinds or not found:
        return list(answers)
    numbers = {answer.number for answer in found if answer.number} if "phone" in kinds else set()
    suppressed = repo.suppressed_digests(conn, {phone_subject(number).digest for number in numbers})
    blocked_numbers = {number for number in numbers if phone_subject(number).digest in suppressed}
    person_ids = {person_id_of(answer.person_key) for answer in found} if check_people else set()
    people = blocked_people(conn, {person for person in person_ids if person is not None}, kinds)
    return [
        suppressed_answer()
        if answer.found and (answer.number in blocked_numbers or person_id_of(answer.person_key) in people)
        else answer
        for answer in answers
    ]


def screen_records(
    conn: Connection, records: Sequence[ContactRecord]
) -> tuple[list[ContactRecord], list[ContactRecord]]:
    """``(records to import, records skipped as suppressed)`` for one import chunk.

    A row naming a suppressed person is skipped; a suppressed number is dropped from its row, and a
    row left without numbers is skipped. One lookup for the chunk.
    """
    kinds = active_kinds(conn)
    if not kinds:
        return list(records), []
    people = [_digests(record_subjects(record)) if kinds & PERSON_KINDS else set() for record in records]
    phones = (
        {p.e164: phone_subject(p.e164).digest for record in records for p in record.phones if p.e164}
        if "phone" in kinds
        else {}
    )
    suppressed = repo.suppressed_digests(conn, set(phones.values()).union(*people))
    if not suppressed:
        return list(records), []
    kept: list[ContactRecord] = []
    skipped: list[ContactRecord] = []
    for record, digests in zip(records, people, strict=True):
        allowed = tuple(p for p in record.phones if not (p.e164 and phones.get(p.e164) in suppressed))
        if digests & suppressed or not allowed:
            skipped.append(record)
        else:
            kept.append(record if len(allowed) == len(record.phones) else record._replace(phones=allowed))
    return kept, skipped


# --- the suppression list --------------------------------------------------------------------------


def suppress(
    conn: Connection,
    subjects: Sequence[Subject],
    *,
    origin: Origin = "manual",
    note: str | None = None,
    now: dt.datetime,
) -> tuple[list[Suppression], list[Suppression]]:
    """Add subjects to the list: ``(entries added, entries already there)``."""
    return repo.add_suppressions(conn, subjects, origin=origin, note=note, now=now)


def list_suppressions(conn: Connection) -> list[Suppression]:
    return repo.list_suppressions(conn)


def unsuppress(conn: Connection, entry_id: int) -> Suppression:
    """Remove one entry (the person or number may be returned again); raises when there is none."""
    removed = repo.delete_suppression(conn, entry_id)
    if removed is None:
        raise SuppressionNotFound(f"no suppression entry #{entry_id}")
    return removed


def selectors_from_file(path: Path) -> Iterator[list[Selector] | RowProblem]:
    """What each row of a contact file (IMPORT.md columns) names, or why it names nothing.

    Every column that names someone counts: the person (profile, names at the company) is one
    selector, and each number is one more.
    """
    sniffed = sniff(path)
    for row in read_rows(sniffed):
        if isinstance(row, RowProblem):
            yield row
            continue
        selectors = _row_selectors(row)
        yield selectors or RowProblem(
            sniffed.name, row.line, "no person", "no LinkedIn URL, name at a company, or phone number"
        )


def subjects_from_file(path: Path) -> Iterator[list[Subject] | RowProblem]:
    """The subjects of each row of a contact file, or why a row names nothing."""
    for item in selectors_from_file(path):
        yield item if isinstance(item, RowProblem) else [s for selector in item for s in selector.subjects()]


def _row_selectors(row: RawRow) -> list[Selector]:
    fields = row.fields
    profile = linkedin_key(fields.get("linkedin_url", "")) if fields.get("linkedin_url") else None
    first, last = name_key(fields.get("first_name", "")), name_key(fields.get("last_name", ""))
    if not (first and last) and fields.get("full_name"):
        parts = split_full_name(fields["full_name"])
        if parts is not None:
            first, last = name_key(parts[0]), name_key(parts[1])
    domain = registrable_domain(fields["company_domain"]) if fields.get("company_domain") else None
    company = company_key(fields["company_name"]) if fields.get("company_name") else None
    named = bool(first and last and (domain or company))
    person = Selector(
        linkedin_key=profile,
        first_key=first if named else None,
        last_key=last if named else None,
        domain=domain if named else None,
        company_key=company if named else None,
    )
    found = [person] if person.subjects() else []
    hint = fields.get("country", "").strip().upper() or None
    for raw in split_phone_cell(fields.get("phone", "")):
        reading = read_phone(raw, hint if hint and len(hint) == 2 else None)
        if reading is not None:
            found.append(Selector(e164=reading.e164))
    return found


# --- erasure ---------------------------------------------------------------------------------------


def people_of(conn: Connection, selector: Selector) -> set[int]:
    """The store people a selector names: the profile's owner, or everyone of that name at the company.

    A name shared by several people at one company selects all of them (erasure errs on the side of
    the person asking).
    """
    from trova.finder.service import identify_many

    found: set[int] = set()
    if selector.linkedin_key:
        found |= set(contacts_lookups.people_by_linkedin(conn, [selector.linkedin_key]).values())
    if selector.first_key and selector.last_key:
        for domain, key in ((selector.domain, None), (None, selector.company_key)):
            if domain or key:
                search = Search(
                    first_key=selector.first_key,
                    last_key=selector.last_key,
                    company_domain=domain,
                    company_key=key,
                )
                found |= set(identify_many(conn, [search])[search].candidates)
    return found


def erase(conn: Connection, selector: Selector, *, now: dt.datetime) -> ErasureReport:
    """Delete what the store and the results hold about a person or number, then suppress them.

    In one transaction: the person's records and phone observations go; every stored result that
    revealed their number keeps its ledger rows but loses the number; webhook payloads and receiver
    responses holding the number are redacted; audit events keep who saw it and when but not the
    number; and every subject (profile, names at companies, numbers) is suppressed so no import or
    upstream answer brings it back.
    """
    people = people_of(conn, selector)
    records = contacts_lookups.describe_people(conn, people)
    subjects = selector.subjects() + [s for record in records.values() for s in person_subjects(record)]
    person_keys = {person_key(person) for person in people}
    audit_ids = repo.audit_ids_of(conn, digests=_digests(subjects), person_keys=person_keys)
    numbers = _numbers_to_forget(conn, selector, people, repo.numbers_of_events(conn, audit_ids))
    subjects += [phone_subject(number) for number in sorted(numbers)]

    deleted_people, observations = contacts_repo.delete_people(conn, people)
    observations += contacts_repo.delete_observations_of_numbers(conn, numbers)
    search_ids = batches_repo.searches_revealing(conn, numbers=numbers, person_keys=person_keys)
    search_ids |= repo.search_ids_of_events(conn, audit_ids)
    batch_ids = batches_repo.redact_results(conn, search_ids)
    payloads, responses = _redact_webhooks(conn, batch_ids, numbers)
    repo.link_subjects(conn, audit_ids, _digests(subjects))
    redacted = repo.redact_numbers(conn, audit_ids, numbers)
    added, existing = repo.add_suppressions(conn, subjects, origin="erasure", note=None, now=now)
    return ErasureReport(
        people=deleted_people,
        phone_observations=observations,
        search_results=len(search_ids),
        webhook_payloads=payloads,
        webhook_responses=responses,
        audit_entries_redacted=redacted,
        suppressions=tuple(sorted(added + existing, key=lambda entry: entry.id)),
    )


def erase_many(conn: Connection, selectors: Sequence[Selector], *, now: dt.datetime) -> ErasureReport:
    """:func:`erase` each selector in turn (one row of a file), the reports added up."""
    total = ErasureReport()
    for selector in selectors:
        report = erase(conn, selector, now=now)
        total = ErasureReport(
            people=total.people + report.people,
            phone_observations=total.phone_observations + report.phone_observations,
            search_results=total.search_results + report.search_results,
            webhook_payloads=total.webhook_payloads + report.webhook_payloads,
            webhook_responses=total.webhook_responses + report.webhook_responses,
            audit_entries_redacted=total.audit_entries_redacted + report.audit_entries_redacted,
            suppressions=_distinct(total.suppressions + report.suppressions),
        )
    return total


def _distinct(entries: tuple[Suppression, ...]) -> tuple[Suppression, ...]:
    return tuple(sorted({entry.id: entry for entry in entries}.values(), key=lambda entry: entry.id))


def _numbers_to_forget(
    conn: Connection, selector: Selector, people: Collection[int], revealed: Collection[str]
) -> set[str]:
    """The selected number, and the numbers of the selected people (held in the store, or revealed
    to an account for them) that no one else holds.

    A switchboard shared with colleagues stays (it is theirs too); everything personal goes.
    """
    numbers = {selector.e164} if selector.e164 else set()
    observed = contacts_lookups.all_observations_of(conn, people) if people else {}
    theirs = {o.e164 for found in observed.values() for o in found if o.e164} | set(revealed)
    holders = contacts_repo.holders_of_numbers(conn, theirs)
    return numbers | {number for number in theirs if holders.get(number, set()) <= set(people)}


def _redact_webhooks(
    conn: Connection, batch_ids: Collection[str], numbers: Collection[str]
) -> tuple[int, int]:
    """Redact the numbers from webhook payloads and stored receiver responses of the given batches."""
    if not numbers or not batch_ids:
        return 0, 0
    payloads = 0
    for message in webhooks_repo.messages_of_batches(conn, sorted(batch_ids)):
        redacted = redact_value(message.payload, numbers)
        if redacted != message.payload:
            webhooks_repo.replace_payload(conn, message.id, redacted)
            payloads += 1
    digits = {number.lstrip("+") for number in numbers}
    excerpts = webhooks_repo.response_excerpts_of_batches(conn, sorted(batch_ids))
    holding = [attempt for attempt, text in excerpts.items() if any(d in text for d in digits)]
    webhooks_repo.clear_response_excerpts(conn, holding)
    return payloads, len(holding)


_NUMBER_FIELDS = ("number", "country", "line_type")


def redact_value(value: Any, numbers: Collection[str]) -> Any:
    """``value`` (a JSON document) without the given numbers: an object holding one as ``number``
    loses its number fields (``number``, ``country``, ``line_type`` become null), any other string
    equal to one becomes null."""
    if isinstance(value, Mapping):
        holds = value.get("number") in numbers
        return {
            key: None if holds and key in _NUMBER_FIELDS else redact_value(item, numbers)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact_value(item, numbers) for item in value]
    if isinstance(value, str) and value in numbers:
        return None
    return value


# --- audit -----------------------------------------------------------------------------------------


def audit_outcomes(
    conn: Connection,
    *,
    account_id: int,
    batch_id: str,
    searches: Mapping[str, Search | None],
    outcomes: Sequence[SearchOutcome],
    now: dt.datetime,
) -> int:
    """Record every outcome that revealed a number, inside the job step's transaction; returns how many.

    ``searches`` maps each search id to its normalised search (``None`` when it no longer validates).
    """
    reveals = [
        Reveal(
            account_id=account_id,
            batch_id=batch_id,
            search_id=outcome.search_id,
            person_key=outcome.person_key,
            number=outcome.number,
            sources=tuple(outcome.source_names),
            subjects=(phone_subject(outcome.number), *_search_subjects(searches.get(outcome.search_id))),
        )
        for outcome in outcomes
        if outcome.qualification == "found" and outcome.number
    ]
    repo.add_audit_events(conn, reveals, now=now)
    return len(reveals)


def screen_outcomes(
    conn: Connection, searches: Mapping[str, Search | None], outcomes: Sequence[SearchOutcome]
) -> list[SearchOutcome]:
    """The outcomes re-checked in the job step's write transaction, just before they are stored.

    The finder screened them when it resolved the chunk; an entry added (or an erasure) while the
    chunk was being resolved must still win, so a found number, or a search naming a person, now
    suppressed becomes not found (and is refunded like any other).
    """
    kinds = active_kinds(conn)
    found = [outcome for outcome in outcomes if outcome.qualification == "found" and outcome.number]
    if not kinds or not found:
        return list(outcomes)
    subjects = {
        outcome.search_id: _digests(
            [
                phone_subject(outcome.number or ""),
                *(_search_subjects(searches.get(outcome.search_id)) if kinds & PERSON_KINDS else ()),
            ]
        )
        for outcome in found
    }
    suppressed = repo.suppressed_digests(conn, set().union(*subjects.values()))
    return [
        SearchOutcome(search_id=outcome.search_id, qualification="not_found")
        if subjects.get(outcome.search_id, set()) & suppressed
        else outcome
        for outcome in outcomes
    ]


def _search_subjects(search: Search | None) -> list[Subject]:
    return search_subjects(search) if search is not None else []


def audit_of_subject(conn: Connection, selector: Selector) -> list[AuditEvent]:
    """Who was shown this person's (or this number's) number, and when: a subject access request.

    Matches the searches that named them, the answers that returned their store record, and every
    answer that returned one of their numbers, erased ones included (kept as digests).
    """
    people = people_of(conn, selector)
    records = contacts_lookups.describe_people(conn, people)
    subjects = selector.subjects() + [s for record in records.values() for s in person_subjects(record)]
    observed = contacts_lookups.all_observations_of(conn, people) if people else {}
    subjects += [phone_subject(o.e164) for found in observed.values() for o in found if o.e164]
    ids = repo.audit_ids_of(
        conn, digests=_digests(subjects), person_keys={person_key(person) for person in people}
    )
    return _events(conn, repo.audit_events_by_id(conn, ids))


def audit_of_account(conn: Connection, account_name: str, *, limit: int | None = None) -> list[AuditEvent]:
    """Every number one account was shown (the newest ``limit`` when given), oldest first."""
    account = accounts.require_account(conn, account_name)
    return _events(conn, repo.audit_events_of_account(conn, account.id, limit=limit))


def _events(conn: Connection, rows: Sequence[Any]) -> list[AuditEvent]:
    names = accounts_repo.account_names(conn, sorted({int(row.account_id) for row in rows}))
    return repo.as_events(rows, names)
