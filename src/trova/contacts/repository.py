"""All SQL that writes the contact-store tables (people, companies, their names and domains, phone
observations), and the few reads only the import and erasure need.

Part of the contacts package's repository: the batched reads shared by the finder, the import,
privacy and erasure are in ``trova.contacts.lookups``. Every function takes the caller's
connection; the import owns one write transaction per chunk. Reads and deletes are bulk (``IN``
lists cut by ``trova.store.sql.distinct_slices``), so a chunk of thousands of rows costs a handful
of queries. Link inserts ignore conflicts, so a re-run after a crash, or a concurrent writer, never
fails on a link that already exists.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from trova.contacts.lookups import NameMatch
from trova.store.bulk import insert_many, reserve_ids
from trova.store.sql import distinct_slices
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

SQLITE_BULK_CACHE_KIB = 32_768
"""Page cache of a connection that imports (SQLite's default is 2 MiB). The dedupe and number
indexes take keys in random order, so at millions of rows a small cache turns each insert into
page reads; 32 MiB imported half a million rows as fast as 64 MiB (the OS page cache holds the rest)."""


def prepare_bulk_writes(conn: Connection) -> None:
    """Give the connection (SQLite) or the transaction (PostgreSQL) what an imported chunk needs.

    On SQLite: a large page cache, and no memory map. Mapped pages count in the importing process's
    resident memory and grow with the store (615 MB at a million rows); read into the page cache
    instead, they stay within its bound.

    On PostgreSQL: index seeks for every join. A chunk's lookups join up to 512 keys (names,
    profiles, companies) to tables the import itself is filling; their statistics lag behind, and
    even when fresh the planner prefers hashing the keys and reading the whole table, which costs
    what the table holds (40 ms per 512 names at 120,000 people, growing with every chunk) where
    the seeks cost what the keys are (15 ms, whatever the size).
    """
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_BULK_CACHE_KIB}")
        conn.exec_driver_sql("PRAGMA mmap_size=0")
    else:
        conn.exec_driver_sql("SET LOCAL enable_hashjoin = off")
        conn.exec_driver_sql("SET LOCAL enable_mergejoin = off")


# --- lookups ---------------------------------------------------------------------------------------


def store_is_empty(conn: Connection) -> bool:
    """True when the contact store holds nobody (the demo imports its sample only then)."""
    return conn.execute(sa.select(people.c.id).limit(1)).first() is None


def people_created_at(conn: Connection, created_at: dt.datetime) -> int:
    """How many people exist that were created at exactly ``created_at`` (an import's own timestamp);
    a weak group with an owner is part of that person, not a person of its own."""
    query = (
        sa.select(sa.func.count())
        .select_from(people)
        .where(people.c.created_at == created_at, people.c.owner_id.is_(None))
    )
    return int(conn.execute(query).scalar_one())


def existing_dedupe_keys(conn: Connection, keys: Iterable[str]) -> set[str]:
    """The subset of ``keys`` already stored as phone observations."""
    found: set[str] = set()
    column = phone_observations.c.dedupe_key
    for part in distinct_slices(keys):
        found.update(conn.execute(sa.select(column).where(column.in_(part))).scalars().all())
    return found


# --- writes ----------------------------------------------------------------------------------------


def insert_companies(conn: Connection, count: int, now: dt.datetime) -> list[int]:
    """Create ``count`` companies; their ids in creation order."""
    ids = reserve_ids(conn, companies, count)
    insert_many(conn, companies, ("id", "created_at"), [(company_id, now) for company_id in ids])
    return ids


def insert_people(conn: Connection, linkedin_keys: Sequence[str | None], now: dt.datetime) -> list[int]:
    """Create one person per entry (with that profile key, or none); their ids in the same order."""
    ids = reserve_ids(conn, people, len(linkedin_keys))
    rows = [(person_id, key, now, now) for person_id, key in zip(ids, linkedin_keys, strict=True)]
    insert_many(conn, people, ("id", "linkedin_key", "created_at", "updated_at"), rows)
    return ids


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


def merge_person(conn: Connection, survivor: int, absorbed: int) -> None:
    """Fold person ``absorbed`` into ``survivor``: numbers, names and companies move; ``absorbed`` goes."""
    conn.execute(
        sa.update(phone_observations)
        .where(phone_observations.c.person_id == absorbed)
        .values(person_id=survivor)
    )
    for table, columns in ((person_names, ("first_key", "last_key")), (person_companies, ("company_id",))):
        moved = sa.select(
            sa.literal(survivor).label("person_id"), *(table.c[name] for name in columns)
        ).where(table.c.person_id == absorbed)
        conn.execute(insert_ignore(conn, table).from_select(["person_id", *columns], moved))
        conn.execute(sa.delete(table).where(table.c.person_id == absorbed))
    conn.execute(sa.delete(people).where(people.c.id == absorbed))


def merge_company(conn: Connection, survivor: int, absorbed: int) -> None:
    """Fold company ``absorbed`` into ``survivor``: its names, domains and people move; it goes."""
    for table, column in ((company_names, "name_key"), (person_companies, "person_id")):
        moved = sa.select(table.c[column], sa.literal(survivor).label("company_id")).where(
            table.c.company_id == absorbed
        )
        conn.execute(insert_ignore(conn, table).from_select([column, "company_id"], moved))
        conn.execute(sa.delete(table).where(table.c.company_id == absorbed))
    conn.execute(
        sa.update(company_domains).where(company_domains.c.company_id == absorbed).values(company_id=survivor)
    )
    conn.execute(sa.delete(companies).where(companies.c.id == absorbed))


def people_at_company(conn: Connection, company_id: int) -> list[NameMatch]:
    """Every person linked to the company, once per name they are known by."""
    rows = conn.execute(
        sa.select(
            person_names.c.person_id, person_names.c.first_key, person_names.c.last_key, people.c.linkedin_key
        )
        .join(person_companies, person_companies.c.person_id == person_names.c.person_id)
        .join(people, people.c.id == person_names.c.person_id)
        .where(person_companies.c.company_id == company_id)
    )
    return [
        NameMatch(row.person_id, row.first_key, row.last_key, company_id, row.linkedin_key) for row in rows
    ]


Owner = tuple[int | None, bool]
"""A weak group's (owner person id or None, ambiguous), see ``trova.contacts.owners``."""


def set_owners(conn: Connection, owners: dict[int, Owner]) -> None:
    """Record the owner (and ambiguity) of each weak group (person id) given."""
    if not owners:
        return
    statement = (
        sa.update(people)
        .where(people.c.id == sa.bindparam("pid"))
        .values(owner_id=sa.bindparam("owner"), ambiguous=sa.bindparam("amb"))
    )
    rows = [{"pid": pid, "owner": own, "amb": amb} for pid, (own, amb) in sorted(owners.items())]
    conn.execute(statement, rows)


def touch_people(conn: Connection, person_ids: Iterable[int], now: dt.datetime) -> None:
    """Mark people as updated now (they received new observations or links)."""
    for part in distinct_slices(person_ids):
        conn.execute(sa.update(people).where(people.c.id.in_(part)).values(updated_at=now))


def add_company_names(conn: Connection, links: Iterable[tuple[str, int]]) -> None:
    insert_many(conn, company_names, ("name_key", "company_id"), set(links), ignore=True)


def add_company_domains(conn: Connection, links: Iterable[tuple[str, int]]) -> None:
    insert_many(conn, company_domains, ("domain", "company_id"), set(links), ignore=True)


def add_person_names(conn: Connection, names: Iterable[tuple[int, str, str]]) -> None:
    insert_many(conn, person_names, ("person_id", "first_key", "last_key"), set(names), ignore=True)


def add_person_companies(conn: Connection, links: Iterable[tuple[int, int]]) -> None:
    insert_many(conn, person_companies, ("person_id", "company_id"), set(links), ignore=True)


OBSERVATION_COLUMNS = (
    "person_id",
    "e164",
    "valid",
    "line_type",
    "region",
    "raw",
    "country_hint",
    "source",
    "observed_at",
    "imported_at",
    "dedupe_key",
    "do_not_call",
)


def add_observations(conn: Connection, rows: Iterable[Sequence[Any]]) -> None:
    """Insert phone observations (values in ``OBSERVATION_COLUMNS`` order) whose dedupe keys the
    caller found unknown. One that a concurrent writer stored meanwhile fails the insert, and the
    import links its chunk again from a fresh read (``trova.ingest.service``) rather than skip the
    number and keep a person the chunk created for it. On PostgreSQL the rows are copied straight
    into the table (no temporary table to skip conflicts through)."""
    insert_many(conn, phone_observations, OBSERVATION_COLUMNS, rows)


# --- erasure (privacy) -----------------------------------------------------------------------------


def holders_of_numbers(conn: Connection, numbers: Iterable[str]) -> dict[str, set[int]]:
    """E.164 number -> the people the store holds it for."""
    found: dict[str, set[int]] = {}
    table = phone_observations
    for part in distinct_slices(numbers):
        rows = conn.execute(sa.select(table.c.e164, table.c.person_id).where(table.c.e164.in_(part)))
        for row in rows:
            found.setdefault(row.e164, set()).add(row.person_id)
    return found


def delete_people(conn: Connection, person_ids: Collection[int]) -> tuple[int, int]:
    """Delete people with their observations, names and company links: ``(people, observations)``."""
    people_deleted = observations_deleted = 0
    for part in distinct_slices(person_ids):
        observations_deleted += conn.execute(
            sa.delete(phone_observations).where(phone_observations.c.person_id.in_(part))
        ).rowcount
        for table in (person_names, person_companies):
            conn.execute(sa.delete(table).where(table.c.person_id.in_(part)))
        people_deleted += conn.execute(sa.delete(people).where(people.c.id.in_(part))).rowcount
    return people_deleted, observations_deleted


def delete_observations_of_numbers(conn: Connection, numbers: Iterable[str]) -> int:
    """Delete every observation of the given E.164 numbers, whoever it was held for."""
    deleted = 0
    for part in distinct_slices(numbers):
        deleted += conn.execute(
            sa.delete(phone_observations).where(phone_observations.c.e164.in_(part))
        ).rowcount
    return deleted
