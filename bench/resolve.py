"""Resolution speed: searches per second through ``Finder.resolve_many`` at two store sizes.

    .venv/bin/python bench/resolve.py                       # 100k and 1M people, SQLite
    .venv/bin/python bench/resolve.py --sizes 100000 --batches 10
    .venv/bin/python bench/resolve.py --database-url postgresql://postgres@127.0.0.1:5432/bench_{size}

Builds (once, then reuses) a synthetic contact store per size by bulk insert: people with names
from fixed pools (so namesakes exist and grow with size), half with a LinkedIn profile, companies
with a name and a domain, one to three numbers each, and switchboards shared by colleagues. Then
times batches of 3,000 searches (a third by LinkedIn, the rest by names + domain or company name,
one in ten unknown) and prints searches/s for the finder's core pipeline, for the whole
``Finder.resolve_many`` (which adds the suppression-list screening) and with normalising the raw
params first. The core figure is also given per CPU-second of the process, which varies less when
other processes share the machine. The target is >= 5,000 searches/s at 1M people, and the same
figure at 100k and 1M. A PostgreSQL URL must name an existing empty database. Nicknames
(docs/finder.md §2.7) follow ``TROVA_NICKNAMES`` (on by default; ``false``: exact names alone).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from trova.finder.service import Finder, answer, gather, identify_many
from trova.people.models import Answer, Search
from trova.people.normalise import search_from_params
from trova.people.rank import choose
from trova.settings import get_settings
from trova.store import Database
from trova.store.migrate import upgrade
from trova.store.tables import (
    companies,
    company_domains,
    company_names,
    metadata,
    people,
    person_companies,
    person_names,
    phone_observations,
)

FIRST_NAMES = 2_000
LAST_NAMES = 5_000
PEOPLE_PER_COMPANY = 20
BATCH = 3_000
INSERT_ROWS = 50_000
EPOCH = dt.datetime(2024, 1, 1)


def _mix(i: int) -> int:
    return (i * 2654435761) & 0xFFFFFFFF


def first_name(i: int) -> str:
    return f"first{_mix(i) % FIRST_NAMES}"


def last_name(i: int) -> str:
    return f"last{_mix(i) // FIRST_NAMES % LAST_NAMES}"


def person_profile(i: int) -> str | None:
    return f"person-{i}" if i % 2 == 0 else None


def company_of(i: int) -> int:
    return i // PEOPLE_PER_COMPANY + 1


def store_rows(size: int) -> Iterator[tuple[sa.Table, list[dict[str, Any]]]]:
    """Every row of a store of ``size`` people, table by table, in insert-sized slices."""
    now = dt.datetime(2025, 1, 1)
    company_count = company_of(size - 1)
    yield from _sliced(companies, ({"id": c, "created_at": now} for c in range(1, company_count + 1)))
    yield from _sliced(
        company_names, ({"name_key": f"company {c}", "company_id": c} for c in range(1, company_count + 1))
    )
    yield from _sliced(
        company_domains, ({"domain": f"company{c}.com", "company_id": c} for c in range(1, company_count + 1))
    )
    yield from _sliced(
        people,
        (
            {"id": i + 1, "linkedin_key": person_profile(i), "created_at": now, "updated_at": now}
            for i in range(size)
        ),
    )
    yield from _sliced(
        person_names,
        ({"person_id": i + 1, "first_key": first_name(i), "last_key": last_name(i)} for i in range(size)),
    )
    yield from _sliced(
        person_companies, ({"person_id": i + 1, "company_id": company_of(i)} for i in range(size))
    )
    yield from _sliced(phone_observations, _observations(size))


def _observations(size: int) -> Iterator[dict[str, Any]]:
    serial = 0
    for i in range(size):
        numbers = [(f"+336{i:08d}", "mobile")]
        if i % 3 == 0:
            numbers.append((f"+337{i:08d}", "mobile"))
        if i % 5 == 0:
            numbers.append((f"+331{company_of(i):08d}", "fixed_line"))
        for e164, line_type in numbers:
            serial += 1
            yield {
                "person_id": i + 1,
                "e164": e164,
                "valid": True,
                "line_type": line_type,
                "region": "FR",
                "raw": e164,
                "country_hint": None,
                "source": f"source{serial % 3}",
                "observed_at": EPOCH + dt.timedelta(days=serial % 400),
                "imported_at": EPOCH,
                "dedupe_key": f"{serial:016x}",
            }


def _sliced(
    table: sa.Table, rows: Iterator[dict[str, Any]]
) -> Iterator[tuple[sa.Table, list[dict[str, Any]]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == INSERT_ROWS:
            yield table, batch
            batch = []
    if batch:
        yield table, batch


def build_store(db: Database, size: int) -> None:
    """Create the store unless a complete one of this size is already there.

    A reused store gets the tables added to the schema since it was built (the migration is
    regenerated in place until the first release, so ``upgrade`` alone would not add them).
    """
    upgrade(db)
    metadata.create_all(db.engine)
    with db.read() as conn:
        existing = conn.execute(sa.select(sa.func.count()).select_from(people)).scalar_one()
    if existing == size:
        print(f"  reusing store of {size:,} people")
        return
    if existing:
        raise SystemExit(f"store at {db.url} holds {existing:,} people, not {size:,}: remove it first")
    started = time.perf_counter()
    for table, rows in store_rows(size):
        with db.write() as conn:
            conn.execute(sa.insert(table), rows)
    with db.write() as conn:
        conn.exec_driver_sql("ANALYZE")
    print(f"  built store of {size:,} people in {time.perf_counter() - started:.0f} s")


def batch_params(size: int, rng: random.Random) -> list[dict[str, str]]:
    """3,000 raw searches: a third by LinkedIn, the rest by names, one in ten naming nobody."""
    params: list[dict[str, str]] = []
    for n in range(BATCH):
        i = rng.randrange(size)
        if n % 10 == 9:
            params.append(
                {"firstname": "nobody", "lastname": f"unknown{n}", "company_domain": "nowhere.example.com"}
            )
        elif n % 3 == 0:
            params.append({"linkedin_url": f"https://www.linkedin.com/in/person-{i - i % 2}/"})
        elif n % 3 == 1:
            params.append(
                {
                    "firstname": first_name(i).upper(),
                    "lastname": last_name(i),
                    "company_domain": f"https://www.company{company_of(i)}.com/about",
                }
            )
        else:
            params.append(
                {
                    "first_name": first_name(i),
                    "last_name": last_name(i),
                    "company_name": f"Company {company_of(i)} Inc.",
                }
            )
    return params


@dataclass(frozen=True)
class Figures:
    """Searches per second (medians over the timed batches) and the share of searches found."""

    core: float
    core_per_cpu_s: float
    resolve_many: float
    with_normalisation: float
    found: float


def core_resolve(db: Database, searches: list[Search], *, nicknames: bool) -> list[Answer]:
    """The finder's own pipeline (identify, gather, rank) without the suppression-list screening
    and the upstream waterfall that ``Finder.resolve_many`` adds around it."""
    distinct = list(dict.fromkeys(searches))
    with db.read() as conn:
        identified = identify_many(conn, distinct, nicknames=nicknames)
        people = {i.person_id for i in identified.values() if i.person_id is not None}
        observations, shared = gather(conn, people)
    answers = {
        search: answer(found, choose(observations.get(found.person_id or 0, ()), shared))
        for search, found in identified.items()
    }
    return [answers[search] for search in searches]


def measure(db: Database, size: int, batches: int, seed: int, *, nicknames: bool) -> Figures:
    finder = Finder(db, nicknames=nicknames)
    rng = random.Random(seed)
    finder.resolve_many([search_from_params(p) for p in batch_params(size, rng)])
    core, core_cpu, resolve, full, found = [], [], [], [], []
    for _ in range(batches):
        params = batch_params(size, rng)
        started = time.perf_counter()
        searches: list[Search] = [search_from_params(p) for p in params]
        normalised = time.perf_counter()
        answers = finder.resolve_many(searches)
        done = time.perf_counter()
        cpu_started = time.process_time()
        core_answers = core_resolve(db, searches, nicknames=nicknames)
        core_done = time.perf_counter()
        core_cpu.append(len(searches) / (time.process_time() - cpu_started))
        assert [a.number for a in core_answers] == [a.number for a in answers]
        core.append(len(searches) / (core_done - done))
        resolve.append(len(searches) / (done - normalised))
        full.append(len(searches) / (done - started))
        found.append(sum(a.found for a in answers) / len(answers))
    median = statistics.median
    return Figures(median(core), median(core_cpu), median(resolve), median(full), statistics.mean(found))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--batches", type=int, default=5, help="timed batches of 3,000 per size")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/trova-bench-resolve"), help="SQLite stores")
    parser.add_argument("--database-url", help="instead of SQLite; {size} is replaced by the store size")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    nicknames = get_settings().nicknames
    print(f"batches of {BATCH:,} searches, {args.batches} timed per size (median)", end=", ")
    print(f"nicknames {'on' if nicknames else 'off'}")
    for size in args.sizes:
        url = (args.database_url or f"sqlite:///{args.dir}/people_{{size}}.db").format(size=size)
        print(f"{size:,} people ({url.split('://')[0]}):")
        db = Database(url)
        build_store(db, size)
        figures = measure(db, size, args.batches, args.seed, nicknames=nicknames)
        print(f"  finder core (identify, gather, rank): {figures.core:,.0f} searches/s", end=" ")
        print(f"({figures.core_per_cpu_s:,.0f} per CPU-second of this process)")
        print(f"  Finder.resolve_many (+ suppression screening): {figures.resolve_many:,.0f} searches/s")
        print(f"  normalise + resolve_many: {figures.with_normalisation:,.0f} searches/s")
        print(f"  found: {figures.found:.0%}")
        db.dispose()


if __name__ == "__main__":
    main()
