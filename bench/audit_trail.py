"""Cost of the audit trail a job step writes, as the trail grows: ``privacy.repository.add_audit_events``.

    .venv/bin/python bench/audit_trail.py                     # 40 jobs on SQLite
    .venv/bin/python bench/audit_trail.py --jobs 80 --postgres

Each round writes what one 3,000-search job with half its searches found writes: 1,500 events,
each with three subjects (the number, the profile and the name at the company's domain), in one
write transaction, into one database that keeps every earlier round's events (a store after weeks
of jobs). Prints, for a few rounds, the milliseconds spent inserting and committing, and the
database's size. Each run starts from a fresh database. Figures depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.databases import fresh_postgres_database  # noqa: E402

from trova.privacy import repository as privacy_repo  # noqa: E402
from trova.privacy.models import Reveal, linkedin_subject, name_subjects, phone_subject  # noqa: E402
from trova.store import Database, utcnow  # noqa: E402
from trova.store.migrate import upgrade  # noqa: E402
from trova.store.tables import accounts  # noqa: E402

REVEALS_PER_JOB = 1500


def job_reveals(account_id: int, job: int) -> list[Reveal]:
    """One job's found results: people numbered so that jobs interleave across the key space."""
    reveals = []
    for n in range(REVEALS_PER_JOB):
        person = (n * 7919 + job * 104_729) % 10_000_000
        number = f"+1555{person:07d}"
        reveals.append(
            Reveal(
                account_id=account_id,
                batch_id=f"b{job:08d}",
                search_id=f"s{job:06d}{n:05d}",
                person_key=f"p:{person}",
                number=number,
                sources=("crm",),
                subjects=(
                    phone_subject(number),
                    linkedin_subject(f"person-{person}"),
                    *name_subjects(f"first{person}", f"last{person}", domains=(f"co{person % 997}.example",)),
                ),
            )
        )
    return reveals


def add_account(db: Database) -> int:
    with db.write() as conn:
        return int(
            conn.execute(
                sa.insert(accounts)
                .values(
                    name="bench", key_hash="0" * 64, key_prefix="x", webhook_secret="x", created_at=utcnow()
                )
                .returning(accounts.c.id)
            ).scalar_one()
        )


def timed_job(db: Database, reveals: list[Reveal]) -> tuple[float, float]:
    """(ms inserting, ms committing) for one job's audit events."""
    with db.write() as conn:
        started = time.perf_counter()
        privacy_repo.add_audit_events(conn, reveals, now=utcnow())
        inserted = time.perf_counter()
    committed = time.perf_counter()
    return (inserted - started) * 1000, (committed - inserted) * 1000


def run(db: Database, jobs: int, label: str, size: Callable[[], str]) -> None:
    account_id = add_account(db)
    shown = {1, 2, 5, 10, 20, 40, 80, 160, jobs}
    totals: list[float] = []
    print(f"{label}: {jobs} jobs of {REVEALS_PER_JOB:,} events x 3 subjects")
    for job in range(1, jobs + 1):
        insert_ms, commit_ms = timed_job(db, job_reveals(account_id, job))
        totals.append(insert_ms + commit_ms)
        if job in shown:
            print(
                f"  job {job:4d}: insert {insert_ms:7.1f} ms  commit {commit_ms:6.1f} ms"
                f"  total {insert_ms + commit_ms:7.1f} ms  ({job * REVEALS_PER_JOB:,} events, {size()})"
            )
    last = totals[-max(1, jobs // 4) :]
    print(f"  median of the last quarter: {statistics.median(last):.1f} ms per job")


def sqlite_size(path: Path) -> Callable[[], str]:
    def size() -> str:
        wal = path.with_name(path.name + "-wal")
        total = path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
        return f"{total / 1e6:.0f} MB"

    return size


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--work", type=Path, default=Path("/tmp/trova-bench-audit"))
    parser.add_argument("--postgres", action="store_true", help="also on a fresh PostgreSQL database")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    path = args.work / "audit.db"
    for stale in args.work.glob("audit.db*"):
        stale.unlink()
    url = f"sqlite:///{path}"
    db = Database(url)
    upgrade(db)
    try:
        run(db, args.jobs, "SQLite", sqlite_size(path))
    finally:
        db.dispose()
    if args.postgres:
        with fresh_postgres_database() as pg_url:
            pg = Database(pg_url)
            upgrade(pg)
            try:
                run(pg, args.jobs, "PostgreSQL", lambda: "")
            finally:
                pg.dispose()


if __name__ == "__main__":
    main()
