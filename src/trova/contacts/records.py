"""What the store holds about whole people: their profile, names and companies, and every number on
record for them (explanations, the suppression list's screening, erasure and its reports).

Part of the contacts package's repository, beside ``trova.contacts.lookups`` (the finder's and the
import's keyed reads, whose statements these reuse): each call is a few bulk queries whatever the
number of people.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from trova.contacts.lookups import (
    by_company,
    domains_of_companies_statement,
    flag,
    names_of_companies_statement,
    owned_by,
    person_names_statement,
    profiles_of,
)
from trova.people.models import Observation
from trova.store.sql import distinct_slices, keys_in, run_keyed
from trova.store.tables import person_companies, phone_observations


@dataclass(frozen=True, slots=True)
class PersonRecord:
    """What the store knows about one person (explanations, screening, erasure)."""

    person_id: int
    linkedin_key: str | None
    names: tuple[tuple[str, str], ...]
    company_ids: tuple[int, ...]
    company_names: tuple[str, ...]
    company_domains: tuple[str, ...]


def _person_companies_statement(size: int) -> sa.Select[Any]:
    table = person_companies
    return sa.select(table.c.person_id, table.c.company_id).where(keys_in(table.c.person_id, size))


def all_observations_of(conn: Connection, person_ids: Collection[int]) -> dict[int, list[Observation]]:
    """Person id -> every observation, unparseable and invalid ones included, with those of the weak
    groups the person owns (explanations, erasure)."""
    owner_of = {group: owner for owner, groups in owned_by(conn, person_ids).items() for group in groups}
    table = phone_observations
    query = sa.select(
        table.c.person_id,
        table.c.e164,
        table.c.valid,
        table.c.line_type,
        table.c.region,
        table.c.source,
        table.c.observed_at,
        table.c.raw,
        table.c.do_not_call,
    )
    found: dict[int, list[Observation]] = {}
    for part in distinct_slices(sorted({*person_ids, *owner_of})):
        for row in conn.execute(query.where(table.c.person_id.in_(part))):
            found.setdefault(owner_of.get(row.person_id, row.person_id), []).append(
                Observation(
                    row.e164,
                    bool(row.valid),
                    row.line_type,
                    row.region,
                    row.source,
                    row.observed_at,
                    row.raw,
                    flag(row.do_not_call),
                )
            )
    return found


def describe_people(conn: Connection, person_ids: Collection[int]) -> dict[int, PersonRecord]:
    """Profile, names and companies (their names and domains) of each person, in five bulk queries
    (explanations, and the suppression list's screening of every batch)."""
    profiles = profiles_of(conn, person_ids)
    if not profiles:
        return {}
    names: dict[int, list[tuple[str, str]]] = {}
    for person_id, first_key, last_key in run_keyed(conn, person_names_statement, profiles):
        names.setdefault(person_id, []).append((first_key, last_key))
    links: dict[int, list[int]] = {}
    for person_id, company_id in run_keyed(conn, _person_companies_statement, profiles):
        links.setdefault(person_id, []).append(company_id)
    company_ids = {company for companies in links.values() for company in companies}
    keys = by_company(run_keyed(conn, names_of_companies_statement, company_ids))
    domains = by_company(run_keyed(conn, domains_of_companies_statement, company_ids))
    return {
        person_id: PersonRecord(
            person_id=person_id,
            linkedin_key=profile,
            names=tuple(sorted(names.get(person_id, ()))),
            company_ids=tuple(sorted(links.get(person_id, ()))),
            company_names=_of_companies(keys, links.get(person_id, ())),
            company_domains=_of_companies(domains, links.get(person_id, ())),
        )
        for person_id, profile in sorted(profiles.items())
    }


def _of_companies(texts: dict[int, list[str]], company_ids: Iterable[int]) -> tuple[str, ...]:
    return tuple(sorted({text for company_id in company_ids for text in texts.get(company_id, ())}))
