"""The ``local`` source (the contact store), and how upstream answers are kept in it.

What an upstream returns becomes records of that source in the contact store, linked to the
search's identifiers (profile key, names, company name and domain) by the import's own linking
code, so the next search for the same person is answered locally and nobody pays twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence

from trova.contacts.models import ContactRecord, PhoneValue
from trova.ingest.service import store_records
from trova.people.models import Observation, Search
from trova.sources.models import Lookup, SourceKind, search_key
from trova.store import Database, utcnow


class LocalSource:
    """The contact store as a :class:`~trova.sources.models.Source`: the observations it holds for
    the person each search names (docs/finder.md §2), in a handful of queries for the whole batch."""

    kind: SourceKind = "local"

    def __init__(self, db: Database, name: str = "local") -> None:
        self.db = db
        self.name = name

    def lookup_many(self, searches: Sequence[Search], deadline: float) -> Lookup:
        from trova.finder.service import gather, identify_many

        distinct = list(dict.fromkeys(searches))
        with self.db.read() as conn:
            identified = identify_many(conn, distinct)
            people = {found.person_id for found in identified.values() if found.person_id is not None}
            observations, _shared = gather(conn, people)
        found: dict[Search, Sequence[Observation]] = {}
        for search, identification in identified.items():
            held = observations.get(identification.person_id or -1, [])
            if held:
                found[search] = tuple(held)
        return Lookup(found=found, missed=frozenset(s for s in distinct if s not in found))


def _dedupe_key(source: str, search: Search, observation: Observation) -> str:
    number = observation.e164 or f"raw:{observation.raw}"
    day = observation.observed_at.date().isoformat()
    text = f"{source}\x1f{search_key(search)}\x1f{number}\x1f{day}"
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def record_for(source: str, search: Search, observation: Observation) -> ContactRecord:
    """One upstream observation as a contact record of ``source`` about the person ``search`` names."""
    phone = PhoneValue(
        raw=(observation.raw or observation.e164 or "")[:500],
        e164=observation.e164,
        valid=observation.valid,
        line_type=observation.line_type,
        region=observation.region,
        dedupe_key=_dedupe_key(source, search, observation),
        do_not_call=observation.do_not_call,
    )
    return ContactRecord(
        line=0,
        linkedin_key=search.linkedin_key,
        first_key=search.first_key or "",
        last_key=search.last_key or "",
        company_key=search.company_key,
        domain=search.company_domain,
        phones=(phone,),
        country_hint=observation.region,
        source=source[:200],
        observed_at=observation.observed_at,
    )


def keep(
    db: Database, source: str, found: Mapping[Search, Sequence[Observation]], now: dt.datetime | None = None
) -> int:
    """Store what ``source`` reported in the contact store (one write transaction); observations added.

    Numbers that did not even parse are not kept: they carry nothing a later search could use.
    """
    records = [
        record_for(source, search, observation)
        for search, observations in found.items()
        for observation in observations
        if observation.e164 is not None
    ]
    return store_records(db, records, now or utcnow())
