"""Privacy screening: what the suppression list keeps from the finder, the import and the job step.

Everything is matched on *subjects* (``models.Subject``): the normalised keys the finder itself
compares, so ``trova suppress --linkedin https://LinkedIn.com/in/Ada/`` blocks every spelling of
that profile. The finder asks :func:`blocked_searches` / :func:`blocked_people` before it resolves
or sends anything upstream, and passes its answers through :func:`screen_answers` last; the import
passes its records through :func:`screen_records`; the job step re-checks its outcomes with
:func:`screen_outcomes` in the transaction that stores them (and audits them, ``privacy.audit``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence

from sqlalchemy.engine import Connection

from trova.contacts import records as contacts_records
from trova.contacts.models import ContactRecord
from trova.people.keys import name_pairs, person_id_of
from trova.people.models import Answer, Search, SearchOutcome
from trova.privacy import repository as repo
from trova.privacy.models import Subject, linkedin_subject, name_subjects, phone_subject

SUPPRESSED = "suppressed"
"""``Answer.reason`` of a search whose person or number is on the suppression list."""
PERSON_KINDS = frozenset({"linkedin", "name_domain", "name_company"})
"""The subject kinds that name a person (the others, ``phone``, name a number)."""

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


def person_subjects(record: contacts_records.PersonRecord) -> list[Subject]:
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


def digests_of(subjects: Iterable[Subject]) -> set[str]:
    """The digests of the subjects: what the suppression list and the audit are keyed by."""
    return {subject.digest for subject in subjects}


# --- screening (finder, import and job step) ---------------------------------------------------------


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
    subjects = {search: digests_of(search_subjects(search)) for search in searches}
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
    records = contacts_records.describe_people(conn, person_ids)
    subjects = {person: digests_of(person_subjects(record)) for person, record in records.items()}
    suppressed = repo.suppressed_digests(conn, set().union(*subjects.values()))
    return {person for person, digests in subjects.items() if digests & suppressed}


def suppressed_answer() -> Answer:
    """Not found, charged nothing: what a suppressed person or number is answered with."""
    return Answer(person_key=None, reason=SUPPRESSED)


def screen_answers(conn: Connection, answers: Sequence[Answer], *, check_people: bool = True) -> list[Answer]:
    """The answers with every suppressed number or store person turned into :func:`suppressed_answer`.

    The last step of the finder, whichever source an answer came from: no query when nothing was
    found, one when the list is empty, a few per batch otherwise. ``check_people=False`` when every
    store person answered was already screened by :func:`blocked_people` in this resolution.
    """
    found = [answer for answer in answers if answer.found]
    kinds = active_kinds(conn) if found else frozenset()
    if not kinds:
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
    people = [digests_of(record_subjects(record)) if kinds & PERSON_KINDS else set() for record in records]
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


def screen_outcomes(
    conn: Connection, searches: Mapping[str, Search | None], outcomes: Sequence[SearchOutcome]
) -> list[SearchOutcome]:
    """The outcomes re-checked in the job step's write transaction, just before they are stored.

    The finder screened them when it resolved the chunk; an entry added (or an erasure) while the
    chunk was being resolved must still win, so a found number, or a search naming a person, now
    suppressed becomes not found (and is refunded like any other).
    """
    found = [outcome for outcome in outcomes if outcome.qualification == "found" and outcome.number]
    kinds = active_kinds(conn) if found else frozenset()
    if not kinds:
        return list(outcomes)
    subjects = {
        outcome.search_id: digests_of(
            [
                phone_subject(outcome.number or ""),
                *(subjects_of_search(searches.get(outcome.search_id)) if kinds & PERSON_KINDS else ()),
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


def subjects_of_search(search: Search | None) -> list[Subject]:
    """:func:`search_subjects`, or none for a search that no longer validates (``None``)."""
    return search_subjects(search) if search is not None else []
