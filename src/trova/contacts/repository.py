"""All SQL that writes (and the lookups the import needs in) the contact-store tables.

Every function takes the caller's connection; the import owns one write transaction per chunk.
Lookups are bulk (``IN`` lists split into slices) so a chunk of thousands of rows costs a handful
of queries. Link inserts ignore conflicts, so a re-run after a crash, or a concurrent writer, never
fails on a link that already exists.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from trova.store.tables import (
    companies,
    company_domains,
    company_names,
    people,
    person_companies,
    person_names,
    phone_observations,
)
from trova.store.upsert import insert_ignore

IN_SLICE = 5000
"""Bound values per ``IN`` list: far below SQLite's 32,766 and PostgreSQL's 65,535 parameters."""

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CompanyName:
    name_key: str
    company_id: int
    has_domain: bool


@dataclass(frozen=True, slots=True)
class NamedPerson:
    """A person known by (first_key, last_key) at a company, with their profile key if any."""

    person_id: int
    first_key: str
    last_key: str
    company_id: int
    linkedin_key: str | None


def _slices(values: Iterable[T], size: int = IN_SLICE) -> Iterator[list[T]]:
    ordered = list(dict.fromkeys(values))
    for start in range(0, len(ordered), size):
        yield ordered[start : start + size]


def _insert_ignoring_conflicts(conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert_ignore(conn, table), list(rows))


# --- lookups ---------------------------------------------------------------------------------------


def existing_dedupe_keys(conn: Connection, keys: Iterable[str]) -> set[str]:
    """The subset of ``keys`` already stored as phone observations."""
    found: set[str] = set()
    column = phone_observations.c.dedupe_key
    for part in _slices(keys):
        found.update(conn.execute(sa.select(column).where(column.in_(part))).scalars())
    return found


def companies_by_domain(conn: Connection, domains: Iterable[str]) -> dict[str, int]:
    """Registrable domain -> company id, for the known ones among ``domains``."""
    found: dict[str, int] = {}
    table = company_domains
    for part in _slices(domains):
        rows = conn.execute(sa.select(table.c.domain, table.c.company_id).where(table.c.domain.in_(part)))
        found.update((row.domain, row.company_id) for row in rows)
    return found


def companies_by_name(conn: Connection, name_keys: Iterable[str]) -> list[CompanyName]:
    """Every company known by one of ``name_keys``, and whether it has a domain."""
    has_domain = (
        sa.select(company_domains.c.domain)
        .where(company_domains.c.company_id == company_names.c.company_id)
        .exists()
    )
    found: list[CompanyName] = []
    for part in _slices(name_keys):
        rows = conn.execute(
            sa.select(
                company_names.c.name_key, company_names.c.company_id, has_domain.label("has_domain")
            ).where(company_names.c.name_key.in_(part))
        )
        found.extend(CompanyName(row.name_key, row.company_id, bool(row.has_domain)) for row in rows)
    return found


def people_by_linkedin(conn: Connection, keys: Iterable[str]) -> dict[str, int]:
    """LinkedIn profile key -> person id, for the known ones among ``keys``."""
    found: dict[str, int] = {}
    for part in _slices(keys):
        rows = conn.execute(
            sa.select(people.c.linkedin_key, people.c.id).where(people.c.linkedin_key.in_(part))
        )
        found.update((row.linkedin_key, row.id) for row in rows)
    return found


def people_by_names(
    conn: Connection, last_keys: Iterable[str], company_ids: Iterable[int]
) -> list[NamedPerson]:
    """People with one of ``last_keys`` who are linked to one of ``company_ids`` (callers filter further)."""
    company_slices = list(_slices(company_ids))
    found: list[NamedPerson] = []
    query = (
        sa.select(
            person_names.c.person_id,
            person_names.c.first_key,
            person_names.c.last_key,
            person_companies.c.company_id,
            people.c.linkedin_key,
        )
        .join(person_companies, person_companies.c.person_id == person_names.c.person_id)
        .join(people, people.c.id == person_names.c.person_id)
    )
    for last_part in _slices(last_keys):
        for company_part in company_slices:
            rows = conn.execute(
                query.where(
                    person_names.c.last_key.in_(last_part), person_companies.c.company_id.in_(company_part)
                )
            )
            found.extend(
                NamedPerson(row.person_id, row.first_key, row.last_key, row.company_id, row.linkedin_key)
                for row in rows
            )
    return found


# --- writes ----------------------------------------------------------------------------------------


def insert_companies(conn: Connection, count: int, now: dt.datetime) -> list[int]:
    """Create ``count`` companies; their ids in creation order."""
    if count == 0:
        return []
    statement = sa.insert(companies).returning(companies.c.id, sort_by_parameter_order=True)
    return list(conn.execute(statement, [{"created_at": now}] * count).scalars())


def insert_people(conn: Connection, linkedin_keys: Sequence[str | None], now: dt.datetime) -> list[int]:
    """Create one person per entry (with that profile key, or none); their ids in the same order."""
    if not linkedin_keys:
        return []
    statement = sa.insert(people).returning(people.c.id, sort_by_parameter_order=True)
    rows = [{"linkedin_key": key, "created_at": now, "updated_at": now} for key in linkedin_keys]
    return list(conn.execute(statement, rows).scalars())


def set_linkedin_keys(conn: Connection, keys_by_person: dict[int, str], now: dt.datetime) -> None:
    """Attach profile keys to people that had none (never overwrites an existing profile)."""
    if not keys_by_person:
        return
    statement = (
        sa.update(people)
        .where(people.c.id == sa.bindparam("pid"), people.c.linkedin_key.is_(None))
        .values(linkedin_key=sa.bindparam("key"), updated_at=now)
    )
    conn.execute(statement, [{"pid": pid, "key": key} for pid, key in keys_by_person.items()])


def touch_people(conn: Connection, person_ids: Iterable[int], now: dt.datetime) -> None:
    """Mark people as updated now (they received new observations or links)."""
    params = [{"pid": pid} for pid in sorted(set(person_ids))]
    if params:
        statement = sa.update(people).where(people.c.id == sa.bindparam("pid")).values(updated_at=now)
        conn.execute(statement, params)


def add_company_names(conn: Connection, links: Iterable[tuple[str, int]]) -> None:
    _insert_ignoring_conflicts(conn, company_names, [{"name_key": k, "company_id": c} for k, c in set(links)])


def add_company_domains(conn: Connection, links: Iterable[tuple[str, int]]) -> None:
    _insert_ignoring_conflicts(conn, company_domains, [{"domain": d, "company_id": c} for d, c in set(links)])


def add_person_names(conn: Connection, names: Iterable[tuple[int, str, str]]) -> None:
    rows = [{"person_id": p, "first_key": f, "last_key": last} for p, f, last in set(names)]
    _insert_ignoring_conflicts(conn, person_names, rows)


def add_person_companies(conn: Connection, links: Iterable[tuple[int, int]]) -> None:
    _insert_ignoring_conflicts(
        conn, person_companies, [{"person_id": p, "company_id": c} for p, c in set(links)]
    )


def add_observations(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert phone observations; one already stored under the same ``dedupe_key`` is left as is."""
    _insert_ignoring_conflicts(conn, phone_observations, rows)
