"""The audit trail's write: every outcome that revealed a number, recorded by the job step.

Reading it back (``trova audit``: who was shown a person's number) is ``erasure.reports``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from sqlalchemy.engine import Connection

from trova.people.models import Search, SearchOutcome
from trova.privacy import repository as repo
from trova.privacy.models import Reveal, phone_subject
from trova.privacy.screening import subjects_of_search


def audit_outcomes(
    conn: Connection,
    outcomes: Sequence[tuple[int, str, SearchOutcome]],
    *,
    searches: Mapping[str, Search | None],
    now: dt.datetime,
) -> int:
    """Record every outcome that revealed a number, inside the job step's transaction; returns how many.

    ``outcomes`` are ``(account_id, batch_id, outcome)``; ``searches`` maps each search id to its
    normalised search (``None`` when it no longer validates).
    """
    reveals = [
        Reveal(
            account_id=account_id,
            batch_id=batch_id,
            search_id=outcome.search_id,
            person_key=outcome.person_key,
            number=outcome.number,
            sources=tuple(outcome.source_names),
            subjects=(phone_subject(outcome.number), *subjects_of_search(searches.get(outcome.search_id))),
        )
        for account_id, batch_id, outcome in outcomes
        if outcome.qualification == "found" and outcome.number
    ]
    repo.add_audit_events(conn, reveals, now=now)
    return len(reveals)
