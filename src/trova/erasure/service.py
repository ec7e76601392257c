"""Erasure: delete what the store and the results hold about a person or number, then suppress them.

``erase`` runs in the caller's transaction (``trova erase`` opens one per command); it reaches the
contact store (``contacts``), stored results (``batches``), webhook payloads (``webhooks``) and the
audit (``privacy``), and ends by adding every subject to the suppression list.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence

from sqlalchemy.engine import Connection

from trova.batches import repository as batches_repo
from trova.contacts import lookups as contacts_lookups
from trova.contacts import owners as contacts_owners
from trova.contacts import records as contacts_records
from trova.contacts import repository as contacts_repo
from trova.erasure.models import ErasureReport
from trova.erasure.redaction import redact_webhooks
from trova.finder.service import identify_many
from trova.people.keys import person_key
from trova.people.models import Search
from trova.privacy import repository as privacy_repo
from trova.privacy.models import Selector, Suppression, phone_subject
from trova.privacy.screening import digests_of, person_subjects


def people_of(conn: Connection, selector: Selector) -> set[int]:
    """The store people a selector names: the profile's owner, or everyone of that name at the company.

    A name shared by several people at one company selects all of them (erasure errs on the side of
    the person asking).
    """
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

    In one transaction: the person's records and phone observations go (with the weak groups they
    own, docs/finder.md §2.6; the groups of their names are then given their owners again); every
    stored result that revealed their number keeps its ledger rows but loses the number; webhook
    payloads and receiver responses holding the number are redacted; audit events keep who saw it
    and when but not the number; and every subject (profile, names at companies, numbers) is
    suppressed so no import or upstream answer brings it back.
    """
    people = people_of(conn, selector)
    people |= {group for groups in contacts_lookups.owned_by(conn, people).values() for group in groups}
    records = contacts_records.describe_people(conn, people)
    subjects = selector.subjects() + [s for record in records.values() for s in person_subjects(record)]
    person_keys = {person_key(person) for person in people}
    audit_ids = privacy_repo.audit_ids_of(conn, digests=digests_of(subjects), person_keys=person_keys)
    numbers = _numbers_to_forget(conn, selector, people, privacy_repo.numbers_of_events(conn, audit_ids))
    subjects += [phone_subject(number) for number in sorted(numbers)]

    deleted_people, observations = contacts_repo.delete_people(conn, people)
    contacts_owners.refresh(conn, {name for record in records.values() for name in record.names})
    observations += contacts_repo.delete_observations_of_numbers(conn, numbers)
    search_ids = batches_repo.searches_revealing(conn, numbers=numbers, person_keys=person_keys)
    search_ids |= privacy_repo.search_ids_of_events(conn, audit_ids)
    batch_ids = batches_repo.redact_results(conn, search_ids)
    payloads, responses = redact_webhooks(conn, batch_ids, numbers)
    privacy_repo.link_subjects(conn, audit_ids, digests_of(subjects))
    redacted = privacy_repo.redact_numbers(conn, audit_ids, numbers)
    added, existing = privacy_repo.add_suppressions(conn, subjects, origin="erasure", note=None, now=now)
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
    observed = contacts_records.all_observations_of(conn, people) if people else {}
    theirs = {o.e164 for found in observed.values() for o in found if o.e164} | set(revealed)
    holders = contacts_repo.holders_of_numbers(conn, theirs)
    return numbers | {number for number in theirs if holders.get(number, set()) <= set(people)}
