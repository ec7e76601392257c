"""Test helper: writes contact-store rows with the finder's own normalisers (as the import does)."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from trova.people.normalise import company_key, linkedin_key, name_key, read_phone, registrable_domain
from trova.store import Database, utcnow
from trova.store.tables import (
    companies,
    company_domains,
    company_names,
    people,
    person_companies,
    person_names,
    phone_observations,
)

DEFAULT_DATE = dt.datetime(2025, 1, 1)


def _inserted_id(conn: Connection, statement: sa.Insert) -> int:
    key = conn.execute(statement).inserted_primary_key
    assert key is not None
    return int(key[0])


class StoreBuilder:
    """Small, explicit store contents: companies, people (names, profile, companies) and numbers."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._serial = itertools.count()

    def company(self, *names: str, domains: tuple[str, ...] = ()) -> int:
        """A company known by every given name and domain (URLs and legal suffixes allowed)."""
        now = utcnow()
        with self.db.write() as conn:
            company_id = _inserted_id(conn, sa.insert(companies).values(created_at=now))
            for name in names:
                key = company_key(name)
                assert key is not None, name
                conn.execute(sa.insert(company_names).values(name_key=key, company_id=company_id))
            for domain in domains:
                registrable = registrable_domain(domain)
                assert registrable is not None, domain
                conn.execute(sa.insert(company_domains).values(domain=registrable, company_id=company_id))
        return company_id

    def person(
        self,
        first: str | None = None,
        last: str | None = None,
        *,
        at: tuple[int, ...] = (),
        linkedin: str | None = None,
        phones: tuple[str, ...] = (),
        country: str | None = None,
        source: str = "crm",
        observed_at: dt.datetime = DEFAULT_DATE,
    ) -> int:
        """A person, with their names at the companies ``at`` and optional numbers from one source."""
        now = utcnow()
        profile = linkedin_key(linkedin) if linkedin else None
        with self.db.write() as conn:
            person_id = _inserted_id(
                conn, sa.insert(people).values(linkedin_key=profile, created_at=now, updated_at=now)
            )
            if first is not None and last is not None:
                conn.execute(
                    sa.insert(person_names).values(
                        person_id=person_id, first_key=name_key(first), last_key=name_key(last)
                    )
                )
            for company_id in at:
                conn.execute(sa.insert(person_companies).values(person_id=person_id, company_id=company_id))
        for raw in phones:
            self.phone(person_id, raw, country=country, source=source, observed_at=observed_at)
        return person_id

    def also_named(self, person_id: int, first: str, last: str) -> None:
        with self.db.write() as conn:
            conn.execute(
                sa.insert(person_names).values(
                    person_id=person_id, first_key=name_key(first), last_key=name_key(last)
                )
            )

    def phone(
        self,
        person_id: int,
        raw: str,
        *,
        country: str | None = None,
        source: str = "crm",
        observed_at: dt.datetime = DEFAULT_DATE,
    ) -> None:
        """One observation of ``raw`` for the person, read by ``read_phone`` like the import does."""
        reading = read_phone(raw, country)
        dedupe = hashlib.sha256(f"{next(self._serial)}|{person_id}|{raw}|{source}".encode()).hexdigest()
        with self.db.write() as conn:
            conn.execute(
                sa.insert(phone_observations).values(
                    person_id=person_id,
                    e164=reading.e164 if reading else None,
                    valid=reading.valid if reading else False,
                    line_type=reading.line_type if reading else None,
                    region=reading.region if reading else None,
                    raw=raw,
                    country_hint=country,
                    source=source,
                    observed_at=observed_at,
                    imported_at=utcnow(),
                    dedupe_key=dedupe,
                )
            )
