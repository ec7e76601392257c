"""All SQL of the finder: bulk reads of the contact store, one query per slice of keys.

Every function takes the caller's connection and a whole batch of keys, so resolving thousands of
searches is a handful of indexed queries whatever the store size. ``IN`` lists and ``VALUES`` lists
are cut into slices far below SQLite's 32,766 bound parameters (PostgreSQL allows 65,535).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from trova.finder.models import Observation
from trova.finder.rank import RETURNABLE_LINES
from trova.store.tables import (
    company_domains,
    company_names,
    people,
    person_companies,
    person_names,
    phone_observations,
)

KEYS_PER_QUERY = 1000
TRIPLES_PER_QUERY = 512
STATEMENT_SIZES = (8, 64, TRIPLES_PER_QUERY)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class NameMatch:
    """A person known by (first_key, last_key) and linked to ``company_id``."""

    person_id: int
    first_key: str
    last_key: str
    company_id: int
    linkedin_key: str | None


@dataclass(frozen=True, slots=True)
class PersonRecord:
    """What the store knows about one person, for ``trova explain``."""

    person_id: int
    linkedin_key: str | None
    names: tuple[tuple[str, str], ...]
    company_ids: tuple[int, ...]
    company_names: tuple[str, ...]
    company_domains: tuple[str, ...]


def _slices(values: Iterable[T], size: int) -> Iterator[list[T]]:
    ordered = list(dict.fromkeys(values))
    for start in range(0, len(ordered), size):
        yield ordered[start : start + size]


def people_by_linkedin(conn: Connection, keys: Iterable[str]) -> dict[str, int]:
    """Profile key -> person id, for the keys some source knows."""
    found: dict[str, int] = {}
    for part in _slices(keys, KEYS_PER_QUERY):
        query = sa.select(people.c.linkedin_key, people.c.id).where(people.c.linkedin_key.in_(part))
        rows = conn.execute(query)
        found.update((row.linkedin_key, row.id) for row in rows)
    return found


def companies_by_domain(conn: Connection, domains: Iterable[str]) -> dict[str, set[int]]:
    """Registrable domain -> the companies known by it."""
    found: dict[str, set[int]] = {}
    table = company_domains
    for part in _slices(domains, KEYS_PER_QUERY):
        rows = conn.execute(sa.select(table.c.domain, table.c.company_id).where(table.c.domain.in_(part)))
        for row in rows:
            found.setdefault(row.domain, set()).add(row.company_id)
    return found


def companies_by_name(conn: Connection, name_keys: Iterable[str]) -> dict[str, set[int]]:
    """Company key -> the companies known by it (a key may name several companies)."""
    found: dict[str, set[int]] = {}
    table = company_names
    for part in _slices(name_keys, KEYS_PER_QUERY):
        rows = conn.execute(sa.select(table.c.name_key, table.c.company_id).where(table.c.name_key.in_(part)))
        for row in rows:
            found.setdefault(row.name_key, set()).add(row.company_id)
    return found


def people_named_at(conn: Connection, wanted: Iterable[tuple[str, str, int]]) -> list[NameMatch]:
    """The people known by (first_key, last_key) who are linked to company_id, for each triple.

    The triples are joined as a ``VALUES`` list, so each one is an index seek on (last_key,
    first_key) then on (person_id, company_id): the cost follows the number of searches, not the
    size of the store, and namesakes at other companies are never fetched. (A row-value ``IN``
    would make SQLite scan the whole table.)
    """
    found: dict[tuple[int, int], NameMatch] = {}
    for part in _slices(wanted, TRIPLES_PER_QUERY):
        rows = _padded(part)
        params = {f"{column}{i}": value for i, row in enumerate(rows) for column, value in zip("flc", row, strict=True)}
        for person_id, first_key, last_key, company_id, profile in _execute_compiled(
            conn, _named_at_query(len(rows)), params
        ):
            found[(person_id, company_id)] = NameMatch(person_id, first_key, last_key, company_id, profile)
    return list(found.values())


def people_named(conn: Connection, pairs: Iterable[tuple[str, str]]) -> list[NameMatch]:
    """Everyone known by one of the (first_key, last_key) pairs, at any company (for explanations)."""
    found: list[NameMatch] = []
    query = _person_columns().join(
        person_companies, person_companies.c.person_id == person_names.c.person_id
    )
    for first_key, last_key in dict.fromkeys(pairs):
        rows = conn.execute(query.where(person_names.c.last_key == last_key, person_names.c.first_key == first_key))
        found.extend(NameMatch(*row) for row in rows)
    return found


def _person_columns() -> sa.Select[tuple[int, str, str, int, str | None]]:
    return sa.select(
        person_names.c.person_id,
        person_names.c.first_key,
        person_names.c.last_key,
        person_companies.c.company_id,
        people.c.linkedin_key,
    ).select_from(person_names.join(people, people.c.id == person_names.c.person_id))


def _padded(part: list[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
    """``part`` repeated up to the next statement size, so only a few statement shapes exist."""
    size = next(size for size in STATEMENT_SIZES if size >= len(part))
    return part + [part[0]] * (size - len(part))


@lru_cache(maxsize=len(STATEMENT_SIZES))
def _named_at_query(rows: int) -> sa.Select[tuple[int, str, str, int, str | None]]:
    wanted = (
        sa.values(
            sa.column("first_key", sa.String),
            sa.column("last_key", sa.String),
            sa.column("company_id", sa.Integer),
            name="wanted",
        )
        .data(
            [
                (
                    sa.bindparam(f"f{i}", type_=sa.String),
                    sa.bindparam(f"l{i}", type_=sa.String),
                    sa.bindparam(f"c{i}", type_=sa.Integer),
                )
                for i in range(rows)
            ]
        )
        .cte("wanted")
    )
    return (
        sa.select(
            person_names.c.person_id,
            person_names.c.first_key,
            person_names.c.last_key,
            person_companies.c.company_id,
            people.c.linkedin_key,
        )
        .select_from(wanted)
        .join(
            person_names,
            sa.and_(
                person_names.c.last_key == wanted.c.last_key,
                person_names.c.first_key == wanted.c.first_key,
            ),
        )
        .join(
            person_companies,
            sa.and_(
                person_companies.c.person_id == person_names.c.person_id,
                person_companies.c.company_id == wanted.c.company_id,
            ),
        )
        .join(people, people.c.id == person_names.c.person_id)
    )


@lru_cache(maxsize=4 * len(STATEMENT_SIZES))
def _compiled(statement: sa.Select[Any], dialect: sa.Dialect) -> tuple[str, tuple[str, ...] | None]:
    compiled = statement.compile(dialect=dialect)
    return str(compiled), tuple(compiled.positiontup) if compiled.positional and compiled.positiontup else None


def _execute_compiled(conn: Connection, statement: sa.Select[Any], params: dict[str, Any]) -> list[Any]:
    """Run a statement compiled once per dialect and cached here.

    SQLAlchemy does not cache the compiled form of a ``VALUES`` list; compiling one with hundreds
    of rows on every call would cost more than the query itself.
    """
    sql, positions = _compiled(statement, conn.dialect)
    bound: tuple[Any, ...] | dict[str, Any] = tuple(params[name] for name in positions) if positions else params
    return list(conn.exec_driver_sql(sql, bound))


def observations_of(
    conn: Connection, person_ids: Iterable[int], *, returnable_only: bool = True
) -> dict[int, list[Observation]]:
    """Person id -> their phone observations; by default only those that may be returned.

    ``returnable_only`` drops invalid, unparseable and non-returnable line types in SQL, which is
    what the finder needs; ``trova explain`` asks for everything to show what was dropped.
    """
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
    )
    if returnable_only:
        query = query.where(table.c.valid.is_(True), table.c.line_type.in_(RETURNABLE_LINES))
    found: dict[int, list[Observation]] = {}
    for part in _slices(person_ids, KEYS_PER_QUERY):
        for row in conn.execute(query.where(table.c.person_id.in_(part))):
            found.setdefault(row.person_id, []).append(
                Observation(
                    e164=row.e164,
                    valid=bool(row.valid),
                    line_type=row.line_type,
                    region=row.region,
                    source=row.source,
                    observed_at=row.observed_at,
                    raw=row.raw,
                )
            )
    return found


def shared_numbers(conn: Connection, numbers: Collection[str]) -> set[str]:
    """The numbers among ``numbers`` that the store holds for more than one person."""
    table = phone_observations
    query = (
        sa.select(table.c.e164)
        .group_by(table.c.e164)
        .having(sa.func.count(sa.distinct(table.c.person_id)) > 1)
    )
    found: set[str] = set()
    for part in _slices(numbers, KEYS_PER_QUERY):
        found.update(conn.execute(query.where(table.c.e164.in_(part))).scalars())
    return found


def describe_people(conn: Connection, person_ids: Collection[int]) -> dict[int, PersonRecord]:
    """Profile, names and companies (their names and domains) of each person, for explanations."""
    ids = sorted(set(person_ids))
    if not ids:
        return {}
    profile_query = sa.select(people.c.id, people.c.linkedin_key).where(people.c.id.in_(ids))
    profiles: dict[int, str | None] = {row.id: row.linkedin_key for row in conn.execute(profile_query)}
    names: dict[int, list[tuple[str, str]]] = {}
    for row in conn.execute(
        sa.select(person_names).where(person_names.c.person_id.in_(ids)).order_by(*person_names.c)
    ):
        names.setdefault(row.person_id, []).append((row.first_key, row.last_key))
    links: dict[int, list[int]] = {}
    for row in conn.execute(
        sa.select(person_companies).where(person_companies.c.person_id.in_(ids)).order_by(*person_companies.c)
    ):
        links.setdefault(row.person_id, []).append(row.company_id)
    company_ids = sorted({company for companies in links.values() for company in companies})
    keys = _by_company(conn, company_names.c.name_key, company_names.c.company_id, company_ids)
    domains = _by_company(conn, company_domains.c.domain, company_domains.c.company_id, company_ids)
    return {
        person_id: PersonRecord(
            person_id=person_id,
            linkedin_key=profiles[person_id],
            names=tuple(names.get(person_id, ())),
            company_ids=tuple(links.get(person_id, ())),
            company_names=tuple(sorted({key for c in links.get(person_id, ()) for key in keys.get(c, ())})),
            company_domains=tuple(sorted({d for c in links.get(person_id, ()) for d in domains.get(c, ())})),
        )
        for person_id in ids
        if person_id in profiles
    }


def _by_company(
    conn: Connection, value: sa.ColumnElement[str], company: sa.ColumnElement[int], company_ids: list[int]
) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for part in _slices(company_ids, KEYS_PER_QUERY):
        for row in conn.execute(sa.select(company, value).where(company.in_(part))):
            found.setdefault(row[0], []).append(row[1])
    return found
