"""The audit reports of ``trova audit``: who was shown a person's number, or what an account was shown.

The trail itself is written by the job step (``privacy.audit.audit_outcomes``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Connection

from trova.accounts import repository as accounts_repo
from trova.accounts import service as accounts
from trova.contacts import records as contacts_records
from trova.erasure.service import people_of
from trova.people.keys import person_key
from trova.privacy import repository as privacy_repo
from trova.privacy.models import AuditEvent, Selector, phone_subject
from trova.privacy.screening import digests_of, person_subjects


def audit_of_subject(conn: Connection, selector: Selector) -> list[AuditEvent]:
    """Who was shown this person's (or this number's) number, and when: a subject access request.

    Matches the searches that named them, the answers that returned their store record, and every
    answer that returned one of their numbers, erased ones included (kept as digests).
    """
    people = people_of(conn, selector)
    records = contacts_records.describe_people(conn, people)
    subjects = selector.subjects() + [s for record in records.values() for s in person_subjects(record)]
    observed = contacts_records.all_observations_of(conn, people) if people else {}
    subjects += [phone_subject(o.e164) for found in observed.values() for o in found if o.e164]
    ids = privacy_repo.audit_ids_of(
        conn, digests=digests_of(subjects), person_keys={person_key(person) for person in people}
    )
    return _events(conn, privacy_repo.audit_events_by_id(conn, ids))


def audit_of_account(conn: Connection, account_name: str, *, limit: int | None = None) -> list[AuditEvent]:
    """Every number one account was shown (the newest ``limit`` when given), oldest first."""
    account = accounts.require_account(conn, account_name)
    return _events(conn, privacy_repo.audit_events_of_account(conn, account.id, limit=limit))


def _events(conn: Connection, rows: Sequence[Any]) -> list[AuditEvent]:
    names = accounts_repo.account_names(conn, sorted({int(row.account_id) for row in rows}))
    return privacy_repo.as_events(rows, names)
