"""Which first names are in use as given names at some companies: the finder's check that a short
form searched is not read as a nickname where someone is on record under it (docs/finder.md §2.7).

Part of the contacts package's repository, beside :mod:`trova.contacts.lookups` (its batched
reads, compiled once per dialect and slice size and run on the driver directly).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from trova.contacts import lookups
from trova.store.sql import padded_slices, run_compiled, run_keyed
from trova.store.tables import person_companies, person_names


def _first_named_at_statement(size: int) -> sa.Select[Any]:
    """The (first_key, company_id) pairs of a ``VALUES`` list that someone linked to the company is
    known by, any last name: a seek on ``ix_person_names_first`` (first_key, person_id), then on
    person_companies' primary key (person_id, company_id); ``EXISTS`` stops at the first one."""
    rows = [
        (sa.bindparam(f"f{i}", type_=sa.String), sa.bindparam(f"c{i}", type_=sa.Integer)) for i in range(size)
    ]
    columns = (sa.column("first_key", sa.String), sa.column("company_id", sa.Integer))
    wanted = sa.values(*columns, name="wanted").data(rows).cte("wanted")
    there = (
        sa.select(person_names.c.person_id)
        .join(person_companies, person_companies.c.person_id == person_names.c.person_id)
        .where(
            person_names.c.first_key == wanted.c.first_key,
            person_companies.c.company_id == wanted.c.company_id,
        )
    )
    return sa.select(wanted.c.first_key, wanted.c.company_id).where(there.exists())


def first_names_at(conn: Connection, wanted: Iterable[tuple[str, int]]) -> set[tuple[str, int]]:
    """The (first_key, company_id) pairs of ``wanted`` that someone linked to that company is known
    by, whatever their last name, in one query per slice of pairs."""
    found: set[tuple[str, int]] = set()
    for part in padded_slices(wanted):
        params = {
            f"{column}{i}": value
            for i, pair in enumerate(part)
            for column, value in zip("fc", pair, strict=True)
        }
        found.update(
            (first, company)
            for first, company in run_compiled(conn, _first_named_at_statement, len(part), params)
        )
    return found


def company_labels(conn: Connection, company_ids: Collection[int]) -> dict[int, str]:
    """Company id -> its company keys and domains, for an explanation to name it."""
    keys = {company: sorted(names) for company, names in lookups.company_keys_of(conn, company_ids).items()}
    domains = lookups.by_company(run_keyed(conn, lookups.domains_of_companies_statement, company_ids))
    return {
        company: " / ".join([*keys.get(company, ()), *sorted(domains.get(company, ()))])
        or f"company {company}"
        for company in company_ids
    }
