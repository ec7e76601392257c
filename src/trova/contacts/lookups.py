"""The contact store's batched reads: who is known by a profile, a domain, a company name or a name,
and the numbers on record for them (the finder's lookups and the import's; whole people for
explanations, privacy and erasure are read by ``trova.contacts.records``).

Part of the contacts package's repository (writes are in ``trova.contacts.repository``). Every
function takes the caller's connection and a whole batch of keys, so resolving thousands of
searches, or linking a chunk of thousands of rows, is a handful of indexed queries whatever the
store size. The statements are compiled once per dialect and slice size and run on the driver
directly (``trova.store.sql.run_keyed``): these reads are the finder's hot path.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from trova.people.models import Observation
from trova.people.rank import RETURNABLE_LINES
from trova.store.sql import distinct_slices, keys_in, padded_slices, run_compiled, run_keyed
from trova.store.tables import (
    company_domains,
    company_names,
    people,
    person_companies,
    person_names,
    phone_observations,
)


class NameMatch(NamedTuple):
    """A person known by (first_key, last_key) and linked to ``company_id``, with their profile key.

    For a weak group (a person without a profile, docs/finder.md §2.6): ``owner_id``, the person it
    belongs to (None: itself), and ``ambiguous`` when several people could own it. A named tuple:
    the finder and the import build one per row of their hottest reads.
    """

    person_id: int
    first_key: str
    last_key: str
    company_id: int
    linkedin_key: str | None
    owner_id: int | None = None
    ambiguous: bool = False

    @property
    def identity(self) -> int:
        """The person this match stands for: the weak group's owner, else the match itself."""
        return self.person_id if self.owner_id is None else self.owner_id


def _datetime(value: dt.datetime | str) -> dt.datetime:
    """SQLite hands DATETIME columns back as text when read on the driver directly."""
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)


def _linkedin_statement(size: int) -> sa.Select[Any]:
    return sa.select(people.c.linkedin_key, people.c.id).where(keys_in(people.c.linkedin_key, size))


def _domains_statement(size: int) -> sa.Select[Any]:
    table = company_domains
    return sa.select(table.c.domain, table.c.company_id).where(keys_in(table.c.domain, size))


def _company_names_statement(size: int) -> sa.Select[Any]:
    table = company_names
    return sa.select(table.c.name_key, table.c.company_id).where(keys_in(table.c.name_key, size))


def _returnable(table: sa.Table) -> list[sa.ColumnElement[bool]]:
    return [
        table.c.valid.is_(True),
        table.c.line_type.in_([sa.literal_column(f"'{line_type}'") for line_type in RETURNABLE_LINES]),
    ]


def _observations_statement(size: int) -> sa.CompoundSelect[Any]:
    """The returnable observations of some people, and those of the weak groups they own under the
    owner's id (docs/finder.md §2.6), in one statement. The groups are found through a subquery:
    with most ``owner_id`` NULL the planner's statistics would otherwise scan the observations."""
    table = phone_observations
    columns = (
        table.c.e164,
        table.c.line_type,
        table.c.region,
        table.c.source,
        table.c.observed_at,
        table.c.do_not_call,
    )
    own = sa.select(table.c.person_id, *columns).where(keys_in(table.c.person_id, size), *_returnable(table))
    groups = people.alias("groups")
    owned = (
        sa.select(people.c.owner_id, *columns)
        .select_from(people.join(table, table.c.person_id == people.c.id))
        .where(
            table.c.person_id.in_(sa.select(groups.c.id).where(keys_in(groups.c.owner_id, size))),
            *_returnable(table),
        )
    )
    return sa.union_all(own, owned)


def _held_twice_statement(size: int) -> sa.Select[Any]:
    """Numbers on record for more than one person row: an index-only read, and a superset of the
    shared numbers (:func:`_shared_statement` only merges and drops rows)."""
    table = phone_observations
    return (
        sa.select(table.c.e164)
        .where(keys_in(table.c.e164, size))
        .group_by(table.c.e164)
        .having(sa.func.count(sa.distinct(table.c.person_id)) > 1)
    )


def _shared_statement(size: int) -> sa.Select[Any]:
    """Numbers held for more than one person: a weak group counts as its owner, and an ambiguous
    one, which belongs to nobody, not at all (docs/finder.md §2.6)."""
    table = phone_observations
    holder = sa.func.coalesce(people.c.owner_id, table.c.person_id)
    return (
        sa.select(table.c.e164)
        .join(people, people.c.id == table.c.person_id)
        .where(keys_in(table.c.e164, size), people.c.ambiguous == sa.false())
        .group_by(table.c.e164)
        .having(sa.func.count(sa.distinct(holder)) > 1)
    )


def _wanted_names(size: int, *, with_company: bool) -> sa.CTE:
    """``size`` bound (first_key, last_key[, company_id]) rows as a ``VALUES`` list named ``wanted``."""
    columns: list[sa.ColumnClause[Any]] = [
        sa.column("first_key", sa.String),
        sa.column("last_key", sa.String),
    ]
    if with_company:
        columns.append(sa.column("company_id", sa.Integer))
    rows = [
        (sa.bindparam(f"f{i}", type_=sa.String), sa.bindparam(f"l{i}", type_=sa.String))
        + ((sa.bindparam(f"c{i}", type_=sa.Integer),) if with_company else ())
        for i in range(size)
    ]
    return sa.values(*columns, name="wanted").data(rows).cte("wanted")


def _people_by_names(wanted: sa.CTE, works_there: sa.ColumnElement[bool]) -> sa.Select[Any]:
    names_match = sa.and_(
        person_names.c.last_key == wanted.c.last_key, person_names.c.first_key == wanted.c.first_key
    )
    return (
        sa.select(
            person_names.c.person_id,
            person_names.c.first_key,
            person_names.c.last_key,
            person_companies.c.company_id,
            people.c.linkedin_key,
            people.c.owner_id,
            people.c.ambiguous,
        )
        .select_from(wanted)
        .join(person_names, names_match)
        .join(person_companies, works_there)
        .join(people, people.c.id == person_names.c.person_id)
    )


def _named_at_statement(size: int) -> sa.Select[Any]:
    """People by (first_key, last_key, company_id) triples joined as a ``VALUES`` list: each
    triple is an index seek on (last_key, first_key) then on (person_id, company_id). A row-value
    ``IN`` would make SQLite scan the whole table."""
    wanted = _wanted_names(size, with_company=True)
    return _people_by_names(
        wanted,
        sa.and_(
            person_companies.c.person_id == person_names.c.person_id,
            person_companies.c.company_id == wanted.c.company_id,
        ),
    )


def _named_statement(size: int) -> sa.Select[Any]:
    """People by (first_key, last_key) pairs, at every company they are linked to: as above, each
    pair is an index seek (SQLite plans a row-value ``IN`` as a full scan, and two ``IN`` lists as
    every last name times every first name)."""
    wanted = _wanted_names(size, with_company=False)
    return _people_by_names(wanted, person_companies.c.person_id == person_names.c.person_id)


def _profiles_statement(size: int) -> sa.Select[Any]:
    return sa.select(people.c.id, people.c.linkedin_key).where(keys_in(people.c.id, size))


def person_names_statement(size: int) -> sa.Select[Any]:
    table = person_names
    return sa.select(table.c.person_id, table.c.first_key, table.c.last_key).where(
        keys_in(table.c.person_id, size)
    )


def names_of_companies_statement(size: int) -> sa.Select[Any]:
    table = company_names
    return sa.select(table.c.company_id, table.c.name_key).where(keys_in(table.c.company_id, size))


def domains_of_companies_statement(size: int) -> sa.Select[Any]:
    table = company_domains
    return sa.select(table.c.company_id, table.c.domain).where(keys_in(table.c.company_id, size))


def _owned_statement(size: int) -> sa.Select[Any]:
    return sa.select(people.c.owner_id, people.c.id).where(keys_in(people.c.owner_id, size))


def profiles_of(conn: Connection, person_ids: Iterable[int]) -> dict[int, str | None]:
    """Person id -> their profile key (None when they have none), for the existing ones."""
    return dict(run_keyed(conn, _profiles_statement, person_ids))


def owned_by(conn: Connection, person_ids: Iterable[int]) -> dict[int, set[int]]:
    """Person id -> the weak groups they own (docs/finder.md §2.6), for those owning any."""
    found: dict[int, set[int]] = {}
    for owner_id, person_id in run_keyed(conn, _owned_statement, person_ids):
        found.setdefault(owner_id, set()).add(person_id)
    return found


def names_of(conn: Connection, person_ids: Iterable[int]) -> set[tuple[str, str]]:
    """Every (first_key, last_key) the given people are known by."""
    return {(first, last) for _person, first, last in run_keyed(conn, person_names_statement, person_ids)}


def company_keys_of(conn: Connection, company_ids: Iterable[int]) -> dict[int, set[str]]:
    """Company id -> the company keys it is known by."""
    found: dict[int, set[str]] = {}
    for company_id, name_key in run_keyed(conn, names_of_companies_statement, company_ids):
        found.setdefault(company_id, set()).add(name_key)
    return found


def _names_at_statement(size: int) -> sa.Select[Any]:
    """Names and profile of the people at some companies. The profile is tested by the caller: with
    ``linkedin_key IS NULL`` in the WHERE clause, SQLite starts from that index and reads every
    person without a profile for each slice of companies, instead of seeking by company."""
    return (
        sa.select(person_names.c.first_key, person_names.c.last_key, people.c.linkedin_key)
        .join(person_companies, person_companies.c.person_id == person_names.c.person_id)
        .join(people, people.c.id == person_names.c.person_id)
        .where(keys_in(person_companies.c.company_id, size))
    )


def weak_names_at(conn: Connection, company_ids: Iterable[int]) -> set[tuple[str, str]]:
    """The names of the people without a profile (weak groups) linked to the given companies."""
    return {
        (first, last)
        for first, last, profile in run_keyed(conn, _names_at_statement, company_ids)
        if profile is None
    }


def ambiguous_groups(conn: Connection, person_ids: Collection[int]) -> set[int]:
    """The weak groups among ``person_ids`` that several people could own (docs/finder.md §2.6)."""
    query = sa.select(people.c.id).where(people.c.ambiguous == sa.true())
    return {
        pid
        for part in distinct_slices(person_ids)
        for pid in conn.execute(query.where(people.c.id.in_(part))).scalars()
    }


def weak_group_names(conn: Connection) -> list[tuple[str, str]]:
    """Every (first_key, last_key) a person without a profile is known by."""
    query = (
        sa.select(person_names.c.first_key, person_names.c.last_key)
        .join(people, people.c.id == person_names.c.person_id)
        .where(people.c.linkedin_key.is_(None))
        .distinct()
    )
    return [(row.first_key, row.last_key) for row in conn.execute(query)]


def people_by_linkedin(conn: Connection, keys: Iterable[str]) -> dict[str, int]:
    """Profile key -> person id, for the known ones among ``keys``."""
    return {key: person_id for key, person_id in run_keyed(conn, _linkedin_statement, keys)}


def companies_by_domain(conn: Connection, domains: Iterable[str]) -> dict[str, int]:
    """Registrable domain -> the company known by it (a domain names one company), for the known ones."""
    return {domain: company_id for domain, company_id in run_keyed(conn, _domains_statement, domains)}


def companies_by_name(conn: Connection, name_keys: Iterable[str]) -> dict[str, set[int]]:
    """Company key -> the companies known by it (a key may name several companies)."""
    found: dict[str, set[int]] = {}
    for name_key, company_id in run_keyed(conn, _company_names_statement, name_keys):
        found.setdefault(name_key, set()).add(company_id)
    return found


def companies_with_domain(conn: Connection, company_ids: Iterable[int]) -> set[int]:
    """The companies among ``company_ids`` that some record links to a domain."""
    return {
        company_id for company_id, _domain in run_keyed(conn, domains_of_companies_statement, company_ids)
    }


def people_named_at(conn: Connection, wanted: Iterable[tuple[str, str, int]]) -> list[NameMatch]:
    """The people known by (first_key, last_key) who are linked to company_id, for each triple.

    The cost follows the number of triples, not the size of the store: namesakes at other
    companies are never fetched.
    """
    found: dict[NameMatch, None] = {}
    for part in padded_slices(wanted):
        params: dict[str, Any] = {}
        for i, (first, last, company) in enumerate(part):
            params[f"f{i}"], params[f"l{i}"], params[f"c{i}"] = first, last, company
        rows = run_compiled(conn, _named_at_statement, len(part), params)
        found.update(dict.fromkeys(map(NameMatch._make, rows)))
    return list(found)


def people_named(
    conn: Connection, pairs: Iterable[tuple[str, str]], at: Collection[int] | None = None
) -> list[NameMatch]:
    """Everyone known by one of the (first_key, last_key) ``pairs``, once per company they are
    linked to: at any company (explanations), or only at the companies in ``at`` (the import)."""
    found: dict[NameMatch, None] = {}
    for part in padded_slices(pairs):
        params = {
            f"{column}{i}": value
            for i, row in enumerate(part)
            for column, value in zip("fl", row, strict=True)
        }
        for row in run_compiled(conn, _named_statement, len(part), params):
            if at is None or row[3] in at:
                found[NameMatch(*row)] = None
    return list(found)


def observations_of(conn: Connection, person_ids: Iterable[int]) -> dict[int, list[Observation]]:
    """Person id -> the observations of theirs that may be returned (valid, returnable line type),
    with those of the weak groups they own (docs/finder.md §2.6). ``person_ids`` are people as
    identified (§2), never a weak group someone owns."""
    found: dict[int, list[Observation]] = {}
    for person_id, e164, line_type, region, source, observed_at, do_not_call in run_keyed(
        conn, _observations_statement, person_ids
    ):
        found.setdefault(person_id, []).append(
            Observation(e164, True, line_type, region, source, _datetime(observed_at), "", flag(do_not_call))
        )
    return found


def flag(value: Any) -> bool | None:
    """A nullable boolean column as read on the driver (SQLite hands back 0/1)."""
    return None if value is None else bool(value)


def shared_numbers(conn: Connection, numbers: Collection[str]) -> set[str]:
    """The numbers among ``numbers`` that the store holds for more than one person.

    Most numbers belong to one person row, so the owners are joined in only for the few on record
    for several rows (the join cost the finder a tenth of its time when run on every number)."""
    held_twice = {e164 for (e164,) in run_keyed(conn, _held_twice_statement, numbers)}
    return {e164 for (e164,) in run_keyed(conn, _shared_statement, held_twice)} if held_twice else set()


def by_company(rows: Iterable[tuple[int, str]]) -> dict[int, list[str]]:
    """Company id -> the texts of ``rows`` (company id, text) for it."""
    found: dict[int, list[str]] = {}
    for company_id, text in rows:
        found.setdefault(company_id, []).append(text)
    return found
