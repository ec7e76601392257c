"""Single searches through the job step: what one worker thread completes per second, and what
recording them costs under the write lock (which, on SQLite, the API's POSTs wait for).

    .venv/bin/python bench/job_steps.py                  # SQLite
    .venv/bin/python bench/job_steps.py --postgres       # and a fresh PostgreSQL database beside

Submits ``--searches`` single searches (``batches.submit``, as ``POST /phone/single`` does, the
store empty so each is refunded), then runs the worker in this thread until none is left
(``jobs.run_until_idle``: small jobs claimed up to ``SMALL_JOBS_PER_CLAIM`` at a time, read
together, resolved in one finder call, recorded in one write transaction). Prints searches
completed per second and the milliseconds per search spent inside the recording transactions
(``batches.step.write_records``), wall and CPU, over ``--rounds`` rounds after one to warm up.
Figures depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trova.accounts import service as accounts
from trova.accounts.models import Account
from trova.batches import service as batches
from trova.batches import step as step_module
from trova.batches.step import BatchStep
from trova.finder.service import Finder
from trova.jobs import service as jobs
from trova.settings import Settings
from trova.store import Database
from trova.store.migrate import upgrade


@contextmanager
def timed_recording() -> Iterator[list[tuple[float, float]]]:
    """(wall s, CPU s) of every ``write_records`` call made meanwhile."""
    spent: list[tuple[float, float]] = []
    original = step_module.write_records

    def timed(*args: Any, **kwargs: Any) -> Any:
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return original(*args, **kwargs)
        finally:
            spent.append((time.perf_counter() - wall, time.thread_time() - cpu))

    step_module.write_records = timed
    try:
        yield spent
    finally:
        step_module.write_records = original


def submit_singles(db: Database, account: Account, settings: Settings, count: int, tag: str) -> None:
    with db.write() as conn:
        for n in range(count):
            submission = batches.read_single(
                {"linkedin_url": f"https://www.linkedin.com/in/{tag}-{n}"}, settings
            )
            batches.submit(conn, account, submission, settings)


def one_round(
    db: Database, account: Account, settings: Settings, count: int, tag: str
) -> tuple[float, float, float]:
    """(searches/s, recording wall ms per search, recording CPU ms per search)."""
    submit_singles(db, account, settings, count, tag)
    step = BatchStep(db, settings, Finder(db))
    with timed_recording() as spent:
        started = time.perf_counter()
        done = jobs.run_until_idle(db, settings, step, owner="bench")
        elapsed = time.perf_counter() - started
    assert done == count, f"{done} of {count} jobs run"
    return count / elapsed, 1000 * sum(w for w, _ in spent) / count, 1000 * sum(c for _, c in spent) / count


def measure(url: str, label: str, searches: int, rounds: int) -> None:
    db = Database(url)
    upgrade(db)
    settings = Settings(price_per_phone=1)
    with db.write() as conn:
        account = accounts.create_account(conn, "bench", credits=10**9).account
    one_round(db, account, settings, min(searches, 200), "warm")
    figures = [one_round(db, account, settings, searches, f"r{n}") for n in range(rounds)]
    rate = statistics.median(f[0] for f in figures)
    wall = statistics.median(f[1] for f in figures)
    cpu = statistics.median(f[2] for f in figures)
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    print(
        f"{label}: {rate:,.0f} single searches/s through one worker thread; recording {wall:.3f} ms "
        f"a search under the write lock ({cpu:.3f} ms CPU); median of {rounds} rounds of {searches:,}; "
        f"load {load}"
    )
    db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--searches", type=int, default=2000, help="single searches per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres", action="store_true", help="also on a fresh PostgreSQL database")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="trova-job-steps-") as scratch:
        measure(f"sqlite:///{Path(scratch) / 'steps.db'}", "SQLite", args.searches, args.rounds)
    if args.postgres:
        from tests.support.databases import fresh_postgres_database

        with fresh_postgres_database() as url:
            measure(url, "PostgreSQL", args.searches, args.rounds)


if __name__ == "__main__":
    main()
