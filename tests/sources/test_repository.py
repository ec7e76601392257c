"""The sources' rows on SQLite and PostgreSQL: counters, negative cache, breaker state (the
breaker's rules themselves are the waterfall's: ``test_waterfall.py``)."""

from __future__ import annotations

import datetime as dt
import threading

from trova.sources import repository as repo
from trova.sources.models import SourceHealth, SourceStats
from trova.store import Database

NOW = dt.datetime(2026, 5, 1, 12, 0, 0)
DAY = NOW.date()


def test_counters_add_up_across_days_and_concurrent_writers(db: Database) -> None:
    def add(stats: SourceStats, day: dt.date) -> None:
        with db.write() as conn:
            repo.add_stats(conn, stats, day)

    threads = [
        threading.Thread(target=add, args=(SourceStats("up", requests=1, hits=2, credits_spent=40), DAY))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    add(SourceStats("up", misses=3), DAY - dt.timedelta(days=5))
    add(SourceStats("other", errors=1), DAY)
    with db.read() as conn:
        everything = repo.stats_since(conn, None)
        recent = repo.stats_since(conn, DAY - dt.timedelta(days=1))
    assert everything["up"] == SourceStats("up", requests=8, hits=16, misses=3, credits_spent=320)
    assert recent["up"].misses == 0 and recent["up"].hits == 16
    assert everything["other"].errors == 1


def test_negative_cache_expires_and_is_per_source(db: Database) -> None:
    with db.write() as conn:
        repo.remember_misses(conn, "up", ["a", "b"], NOW + dt.timedelta(days=30))
        repo.remember_misses(conn, "up", ["c"], NOW - dt.timedelta(seconds=1))
        repo.remember_misses(conn, "up", ["a"], NOW + dt.timedelta(days=31))
    with db.read() as conn:
        assert repo.remembered_misses(conn, "up", ["a", "b", "c", "d"], NOW) == {"a", "b"}
        assert repo.remembered_misses(conn, "other", ["a"], NOW) == set()
        assert repo.remembered_misses(conn, "up", ["b"], NOW + dt.timedelta(days=30, seconds=1)) == set()
        assert repo.remembered_misses(conn, "up", ["a"], NOW + dt.timedelta(days=30, seconds=1)) == {"a"}
        assert repo.count_misses(conn, NOW) == {"up": 2}
    with db.write() as conn:
        assert repo.purge_expired_misses(conn, NOW) == 1
        repo.forget_misses(conn, ["a"])
        assert repo.forget_source_misses(conn, "up") == 1
    with db.read() as conn:
        assert repo.count_misses(conn, NOW) == {}


def test_health_row_is_created_once_and_saved(db: Database) -> None:
    with db.write() as conn:
        first = repo.lock_health(conn, "up", NOW)
        assert first == SourceHealth("up")
        repo.save_health(conn, SourceHealth("up", consecutive_failures=2, last_error="HTTP 503"), NOW)
    with db.write() as conn:
        again = repo.lock_health(conn, "up", NOW)
    assert (again.consecutive_failures, again.last_error) == (2, "HTTP 503")

