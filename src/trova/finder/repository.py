"""All SQL of the finder: bulk reads of the contact store, one query per slice of keys.

Every function takes the caller's connection and a whole batch of keys, so resolving thousands of
searches is a handful of indexed queries whatever the store size. ``IN`` lists and ``VALUES`` lists
are cut into slices far below SQLite's 32,766 bound parameters (PostgreSQL allows 65,535).

The hot-path statements are compiled once per dialect and slice size (slices are padded up to a
few fixed sizes) and run on the driver directly: SQLAlchemy would otherwise re-render every ``IN``
or ``VALUES`` list and convert every row, which costs several times more than SQLite's own work.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from trova.people.models import Observation
from trova.people.rank import RETURNABLE_LINES
from trova.store.tables import (
    company_domains,
    company_names,
    people,
    person_companies,
    person_names,
    phone_observations,
)

SLICE_SIZES = (8, 64, 512)
"""Keys (or name triples) per statement, padded up to the next size: few statement shapes."""

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


def _slices(values: Iterable[T]) -> Iterator[list[T]]:
    """Distinct ``values`` in slices, each padded (with its first value) up to a statement size."""
    ordered = list(dict.fromkeys(values))
    largest = SLICE_SIZES[-1]
    for start in range(0, len(ordered), largest):
        part = ordered[start : start + largest]
        size = next(size for size in SLICE_SIZES if size >= len(part))
        yield part + [part[0]] * (size - len(part))


def _keys_in(column: sa.ColumnElement[Any], size: int) -> sa.ColumnElement[bool]:
    return column.in_([sa.bindparam(f"k{i}", type_=column.type) for i in range(size)])


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    positions: tuple[str, ...] | None
    defaults: dict[str, Any]


@lru_cache(maxsize=128)
def _compiled(name: str, size: int, dialect: sa.Dialect) -> _Compiled:
    compiled = _STATEMENTS[name](size).compile(dialect=dialect)
    positions = tuple(compiled.positiontup) if compiled.positional and compiled.positiontup else None
    return _Compiled(str(compiled), positions, dict(compiled.params))


def _run(conn: Connection, name: str, size: int, params: dict[str, Any]) -> Sequence[Any]:
    """Execute the named statement for ``size`` keys, compiled once per dialect and size."""
    compiled = _compiled(name, size, conn.dialect)
    values = {**compiled.defaults, **params}
    bound: tuple[Any, ...] | dict[str, Any] = (
        tuple(values[name] for name in compiled.positions) if compiled.positions else values
    )
    return conn.exec_driver_sql(compiled.sql, bound).all()


def _run_keyed(conn: Connection, name: str, keys: Iterable[Any]) -> Iterator[Any]:
    for part in _slices(keys):
        yield from _run(conn, name, len(part), {f"k{i}": key for i, key in enumerate(part)})


def _datetime(value: dt.datetime | str) -> dt.datetime:
    """SQLite hands DATETIME columns back as text when read on the driver directly."""
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)


def _linkedin_statement(size: int) -> sa.Select[Any]:
    return sa.select(people.c.linkedin_key, people.c.id).where(_keys_in(people.c.linkedin_key, size))


def _domains_statement(size: int) -> sa.Select[Any]:
    table = company_domains
    return sa.select(table.c.domain, table.c.company_id).where(_keys_in(table.c.domain, size))


def _company_names_statement(size: int) -> sa.Select[Any]:
    table = company_names
    return sa.select(table.c.name_key, table.c.company_id).where(_keys_in(table.c.name_key, size))


def _observations_statement(size: int) -> sa.Select[Any]:
    table = phone_observations
    return sa.select(
        table.c.person_id,
        table.c.e164,
        table.c.line_type,
        table.c.region,
        table.c.source,
        table.c.observed_at,
    ).where(
        _keys_in(table.c.person_id, size),
        table.c.valid.is_(True),
        table.c.line_type.in_([sa.literal_column(f"'{line_type}'") for line_type in RETURNABLE_LINES]),
    )


def _shared_statement(size: int) -> sa.Select[Any]:
    table = phone_observations
    return (
        sa.select(table.c.e164)
        .where(_keys_in(table.c.e164, size))
        .group_by(table.c.e164)
        .having(sa.func.count(sa.distinct(table.c.person_id)) > 1)
    )


def _named_at_statement(size: int) -> sa.Select[Any]:
    """People by (first_key, last_key, company_id) triples joined as a ``VALUES`` list: each
    triple is an index seek on (last_key, first_key) then on (person_id, company_id). A row-value
    ``IN`` would make SQLite scan the whole table."""
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
                for i in range(size)
            ]
        )
        .cte("wanted")
    )
    names_match = sa.and_(
        person_names.c.last_key == wanted.c.last_key, person_names.c.first_key == wanted.c.first_key
    )
    works_there = sa.and_(
        person_companies.c.person_id == person_names.c.person_id,
        person_companies.c.company_id == wanted.c.company_id,
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
        .join(person_names, names_match)
        .join(person_companies, works_there)
        .join(people, people.c.id == person_names.c.person_id)
    )


def _profiles_statement(size: int) -> sa.Select[Any]:
    return sa.select(people.c.id, people.c.linkedin_key).where(_keys_in(people.c.id, size))


def _person_names_statement(size: int) -> sa.Select[Any]:
    table = person_names
    return sa.select(table.c.person_id, table.c.first_key, table.c.last_key).where(
        _keys_in(table.c.person_id, size)
    )


def _person_companies_statement(size: int) -> sa.Select[Any]:
    table = person_companies
    return sa.select(table.c.person_id, table.c.company_id).where(_keys_in(table.c.person_id, size))


def _names_of_companies_statement(size: int) -> sa.Select[Any]:
    table = company_names
    return sa.select(table.c.company_id, table.c.name_key).where(_keys_in(table.c.company_id, size))


def _domains_of_companies_statement(size: int) -> sa.Select[Any]:
    table = company_domains
    return sa.select(table.c.company_id, table.c.domain).where(_keys_in(table.c.company_id, size))


_STATEMENTS = {
    "profiles": _profiles_statement,
    "person_names": _person_names_statement,
    "person_companies": _person_companies_statement,
    "names_of_companies": _names_of_companies_statement,
    "domains_of_companies": _domains_of_companies_statement,
    "linkedin": _linkedin_statement,
    "domains": _domains_statement,
    "company_names": _company_names_statement,
    "observations": _observations_statement,
    "shared": _shared_statement,
    "named_at": _named_at_statement,
}


def people_by_linkedin(conn: Connection, keys: Iterable[str]) -> dict[str, int]:
    """Profile key -> person id, for the keys some source knows."""
    return {key: person_id for key, person_id in _run_keyed(conn, "linkedin", keys)}


def companies_by_domain(conn: Connection, domains: Iterable[str]) -> dict[str, set[int]]:
    """Registrable domain -> the companies known by it."""
    found: dict[str, set[int]] = {}
    for domain, company_id in _run_keyed(conn, "domains", domains):
        found.setdefault(domain, set()).add(company_id)
    return found


def companies_by_name(conn: Connection, name_keys: Iterable[str]) -> dict[str, set[int]]:
    """Company key -> the companies known by it (a key may name several companies)."""
    found: dict[str, set[int]] = {}
    for name_key, company_id in _run_keyed(conn, "company_names", name_keys):
        found.setdefault(name_key, set()).add(company_id)
    return found


def companies_with_domain(conn: Connection, company_ids: Iterable[int]) -> set[int]:
    """The companies among ``company_ids`` that some record links to a domain."""
    return {company_id for company_id, _domain in _run_keyed(conn, "domains_of_companies", company_ids)}


def people_named_at(conn: Connection, wanted: Iterable[tuple[str, str, int]]) -> list[NameMatch]:
    """The people known by (first_key, last_key) who are linked to company_id, for each triple.

    The cost follows the number of triples, not the size of the store: namesakes at other
    companies are never fetched.
    """
    found: dict[tuple[int, int], NameMatch] = {}
    for part in _slices(wanted):
        params = {
            f"{column}{i}": value
            for i, row in enumerate(part)
            for column, value in zip("flc", row, strict=True)
        }
        for person_id, first_key, last_key, company_id, profile in _run(conn, "named_at", len(part), params):
            found[(person_id, company_id)] = NameMatch(person_id, first_key, last_key, company_id, profile)
    return list(found.values())


def observations_of(conn: Connection, person_ids: Iterable[int]) -> dict[int, list[Observation]]:
    """Person id -> the observations of theirs that may be returned (valid, returnable line type)."""
    found: dict[int, list[Observation]] = {}
    for person_id, e164, line_type, region, source, observed_at in _run_keyed(
        conn, "observations", person_ids
    ):
        found.setdefault(person_id, []).append(
            Observation(e164, True, line_type, region, source, _datetime(observed_at))
        )
    return found


def shared_numbers(conn: Connection, numbers: Collection[str]) -> set[str]:
    """The numbers among ``numbers`` that the store holds for more than one person."""
    return {e164 for (e164,) in _run_keyed(conn, "shared", numbers)}


def all_observations_of(conn: Connection, person_ids: Collection[int]) -> dict[int, list[Observation]]:
    """Person id -> every observation, unparseable and invalid ones included (for explanations)."""
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
    ).where(table.c.person_id.in_(sorted(set(person_ids))))
    found: dict[int, list[Observation]] = {}
    for row in conn.execute(query):
        found.setdefault(row.person_id, []).append(
            Observation(
                row.e164, bool(row.valid), row.line_type, row.region, row.source, row.observed_at, row.raw
            )
        )
    return found


def people_named(conn: Connection, pairs: Iterable[tuple[str, str]]) -> list[NameMatch]:
    """Everyone known by one of the (first_key, last_key) pairs, at any company (for explanations)."""
    found: list[NameMatch] = []
    query = _person_columns().join(person_companies, person_companies.c.person_id == person_names.c.person_id)
    for first_key, last_key in dict.fromkeys(pairs):
        rows = conn.execute(
            query.where(person_names.c.last_key == last_key, person_names.c.first_key == first_key)
        )
        found.extend(
            NameMatch(row.person_id, row.first_key, row.last_key, row.company_id, row.linkedin_key)
            for row in rows
        )
    return found


def _person_columns() -> sa.Select[tuple[int, str, str, int, str | None]]:
    return sa.select(
        person_names.c.person_id,
        person_names.c.first_key,
        person_names.c.last_key,
        person_companies.c.company_id,
        people.c.linkedin_key,
    ).select_from(person_names.join(people, people.c.id == person_names.c.person_id))


def describe_people(conn: Connection, person_ids: Collection[int]) -> dict[int, PersonRecord]:
    """Profile, names and companies (their names and domains) of each person, in five bulk queries
    (explanations, and the suppression list's screening of every batch)."""
    profiles: dict[int, str | None] = dict(_run_keyed(conn, "profiles", person_ids))
    if not profiles:
        return {}
    names: dict[int, list[tuple[str, str]]] = {}
    for person_id, first_key, last_key in _run_keyed(conn, "person_names", profiles):
        names.setdefault(person_id, []).append((first_key, last_key))
    links: dict[int, list[int]] = {}
    for person_id, company_id in _run_keyed(conn, "person_companies", profiles):
        links.setdefault(person_id, []).append(company_id)
    company_ids = {company for companies in links.values() for company in companies}
    keys = _by_company(_run_keyed(conn, "names_of_companies", company_ids))
    domains = _by_company(_run_keyed(conn, "domains_of_companies", company_ids))
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


def _by_company(rows: Iterable[tuple[int, str]]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for company_id, text in rows:
        found.setdefault(company_id, []).append(text)
    return found


def _of_companies(texts: dict[int, list[str]], company_ids: Iterable[int]) -> tuple[str, ...]:
    return tuple(sorted({text for company_id in company_ids for text in texts.get(company_id, ())}))
