"""Cost of the privacy controls in the finder: ``Finder.resolve_many`` with an empty suppression list,
with a large list that matches nobody searched, and with a list that suppresses 5% of the people
searched; each list also with searches resolved one per call (single-search jobs); and the cost of
writing the audit rows of a found batch.

    .venv/bin/python bench/privacy.py                          # 100k people, 100k entries
    .venv/bin/python bench/privacy.py --size 20000 --entries 10000 --batches 3

Builds (once, then reuses) the synthetic store of ``bench/resolve.py`` in ``--data``, times batches
of 3,000 searches and prints searches/s (medians). Figures depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.resolve import batch_params, build_store  # noqa: E402

from trova.finder.service import Finder  # noqa: E402
from trova.people.normalise import search_from_params  # noqa: E402
from trova.privacy import repository as privacy_repo  # noqa: E402
from trova.privacy import suppressions as suppression_list  # noqa: E402
from trova.privacy.models import Reveal, linkedin_subject, phone_subject  # noqa: E402
from trova.store import Database, utcnow  # noqa: E402
from trova.store.tables import accounts, audit_events, audit_subjects, suppressions  # noqa: E402


def searches_per_s(finder: Finder, size: int, batches: int, seed: int) -> tuple[float, float]:
    """(median searches/s, share answered ``suppressed``) over ``batches`` batches of 3,000."""
    rng = random.Random(seed)
    finder.resolve_many([search_from_params(p) for p in batch_params(size, rng)])
    rates: list[float] = []
    suppressed = 0
    total = 0
    for _ in range(batches):
        searches = [search_from_params(p) for p in batch_params(size, rng)]
        started = time.perf_counter()
        answers = finder.resolve_many(searches)
        rates.append(len(searches) / (time.perf_counter() - started))
        suppressed += sum(answer.reason == "suppressed" for answer in answers)
        total += len(answers)
    return statistics.median(rates), suppressed / total


def single_searches_per_s(finder: Finder, size: int, count: int, seed: int) -> float:
    """Searches/s over ``count`` searches resolved one per finder call, as single-search jobs are:
    what each call costs beyond its search (the list's kinds read each time) is not shared."""
    searches = [search_from_params(p) for p in batch_params(size, random.Random(seed))[:count]]
    finder.resolve_many(searches[:1])
    started = time.perf_counter()
    for search in searches:
        finder.resolve_many([search])
    return count / (time.perf_counter() - started)


def fill_list(db: Database, entries: int, *, matching: int, size: int) -> None:
    """``entries`` numbers nobody holds, plus ``matching`` profiles of people in the store."""
    subjects = [phone_subject(f"+3319{n:08d}") for n in range(entries)]
    subjects += [
        linkedin_subject(f"person-{i - i % 2}") for i in random.Random(7).sample(range(size), matching)
    ]
    with db.write() as conn:
        for start in range(0, len(subjects), 5000):
            privacy_repo.add_suppressions(
                conn, subjects[start : start + 5000], origin="file", note=None, now=utcnow()
            )


def audit_rows_per_s(db: Database, rows: int) -> float:
    with db.write() as conn:
        account_id = conn.execute(
            sa.insert(accounts)
            .values(
                name=f"bench-{time.time_ns()}",
                key_hash=f"{time.time_ns():064d}",
                key_prefix="x",
                webhook_secret="x",
                created_at=utcnow(),
            )
            .returning(accounts.c.id)
        ).scalar_one()
    reveals = [
        Reveal(
            account_id,
            "batch",
            f"s{n}",
            f"p:{n}",
            f"+3361{n:07d}",
            ("crm",),
            (phone_subject(f"+3361{n:07d}"), linkedin_subject(f"person-{n}")),
        )
        for n in range(rows)
    ]
    started = time.perf_counter()
    with db.write() as conn:
        privacy_repo.add_audit_events(conn, reveals, now=utcnow())
    return rows / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--singles", type=int, default=1000, help="searches resolved one per call")
    parser.add_argument("--data", type=Path, default=Path("/tmp/trova-bench-privacy"))
    args = parser.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    db = Database(f"sqlite:///{args.data / f'store-{args.size}.db'}")
    build_store(db, args.size)
    with db.write() as conn:
        for table in (audit_subjects, audit_events, suppressions):
            conn.execute(sa.delete(table))
    finder = Finder(db)
    print(f"store: {args.size:,} people, batches of 3,000 searches (median of {args.batches})")
    rate, _ = searches_per_s(finder, args.size, args.batches, seed=1)
    print(f"  empty suppression list:                {rate:8,.0f} searches/s")
    single = single_searches_per_s(finder, args.size, args.singles, seed=2)
    print(f"    one search per call ({args.singles:,} calls):   {single:8,.0f} searches/s")
    fill_list(db, args.entries, matching=0, size=args.size)
    rate, _ = searches_per_s(finder, args.size, args.batches, seed=1)
    print(f"  {args.entries:,} entries, none searched:      {rate:8,.0f} searches/s")
    single = single_searches_per_s(finder, args.size, args.singles, seed=2)
    print(f"    one search per call ({args.singles:,} calls):   {single:8,.0f} searches/s")
    fill_list(db, 0, matching=args.size // 20, size=args.size)
    rate, share = searches_per_s(finder, args.size, args.batches, seed=1)
    print(
        f"  + 5% of people suppressed by profile:  {rate:8,.0f} searches/s ({share:.1%} answered suppressed)"
    )
    print(f"audit: {audit_rows_per_s(db, 3000):,.0f} rows/s written (3,000 found results in one transaction)")
    with db.read() as conn:
        print(f"check: {len(suppression_list.list_suppressions(conn)):,} entries on the list")
    db.dispose()


if __name__ == "__main__":
    main()
