"""All SQL of the sources: per-source counters, the breaker's state, and the negative cache.

Every function takes the caller's connection. Counters are added with ``INSERT … ON CONFLICT DO
UPDATE SET n = n + excluded.n`` (the same statement on SQLite and PostgreSQL), so concurrent
workers never lose an increment.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from trova.sources.models import STAT_COLUMNS, Call, SourceHealth, SourceStats, search_key
from trova.store.sql import batches
from trova.store.sql import distinct_slices as _slices
from trova.store.tables import (
    source_batches,
    source_calls,
    source_health,
    source_leases,
    source_misses,
    source_stats,
)

MISS_ROWS = 1000
"""Misses per ``executemany`` of the upsert."""


def _upsert(conn: Connection, table: sa.Table) -> Any:
    return postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)


# --- counters --------------------------------------------------------------------------------------


def add_stats(conn: Connection, stats: SourceStats, day: dt.date) -> None:
    """Add ``stats`` to the source's counters of ``day``."""
    values = stats.as_row()
    if not any(values.values()):
        return
    insert = _upsert(conn, source_stats).values(source=stats.source, day=day, **values)
    conn.execute(
        insert.on_conflict_do_update(
            index_elements=["source", "day"],
            set_={name: source_stats.c[name] + insert.excluded[name] for name in values},
        )
    )


def stats_since(conn: Connection, since: dt.date | None) -> dict[str, SourceStats]:
    """Source name -> its counters summed over the days from ``since`` (all days when None)."""
    sums = [sa.func.sum(source_stats.c[name]).label(name) for name in STAT_COLUMNS]
    query = sa.select(source_stats.c.source, *sums).group_by(source_stats.c.source)
    if since is not None:
        query = query.where(source_stats.c.day >= since)
    return {
        row.source: SourceStats(row.source, **{name: int(getattr(row, name) or 0) for name in STAT_COLUMNS})
        for row in conn.execute(query)
    }


# --- the breaker -----------------------------------------------------------------------------------


def health_of(conn: Connection, sources: Collection[str]) -> dict[str, SourceHealth]:
    """The breaker row of each named source that has one."""
    if not sources:
        return {}
    rows = conn.execute(sa.select(source_health).where(source_health.c.source.in_(sorted(sources))))
    return {
        row.source: SourceHealth(
            source=row.source,
            consecutive_failures=row.consecutive_failures,
            open_until=row.open_until,
            exhausted_at=row.exhausted_at,
            backoff_until=row.backoff_until,
            last_error=row.last_error,
            last_error_at=row.last_error_at,
            last_success_at=row.last_success_at,
            disabled_at=row.disabled_at,
            disabled_reason=row.disabled_reason,
        )
        for row in rows
    }


def lock_health(conn: Connection, source: str, now: dt.datetime) -> SourceHealth:
    """The source's breaker row, created if missing and locked for this write transaction."""
    conn.execute(
        _upsert(conn, source_health)
        .values(source=source, consecutive_failures=0, updated_at=now)
        .on_conflict_do_nothing(index_elements=["source"])
    )
    query = sa.select(source_health.c.source).where(source_health.c.source == source)
    if conn.dialect.name == "postgresql":
        conn.execute(query.with_for_update())
    return health_of(conn, [source])[source]


def save_health(conn: Connection, health: SourceHealth, now: dt.datetime) -> None:
    conn.execute(
        sa.update(source_health)
        .where(source_health.c.source == health.source)
        .values(
            consecutive_failures=health.consecutive_failures,
            open_until=health.open_until,
            exhausted_at=health.exhausted_at,
            backoff_until=health.backoff_until,
            last_error=health.last_error,
            last_error_at=health.last_error_at,
            last_success_at=health.last_success_at,
            disabled_at=health.disabled_at,
            disabled_reason=health.disabled_reason,
            updated_at=now,
        )
    )


# --- the negative cache ----------------------------------------------------------------------------


def remembered_misses(conn: Connection, source: str, keys: Iterable[str], now: dt.datetime) -> set[str]:
    """The keys among ``keys`` that ``source`` answered with nothing and that have not expired."""
    found: set[str] = set()
    table = source_misses
    for part in _slices(keys):
        found.update(
            conn.execute(
                sa.select(table.c.search_key).where(
                    table.c.source == source, table.c.search_key.in_(part), table.c.expires_at > now
                )
            ).scalars()
        )
    return found


def remember_misses(conn: Connection, source: str, keys: Iterable[str], expires_at: dt.datetime) -> None:
    """Remember that ``source`` had nothing for these searches, until ``expires_at``."""
    rows = [{"source": source, "search_key": key, "expires_at": expires_at} for key in dict.fromkeys(keys)]
    if not rows:
        return
    insert = _upsert(conn, source_misses)
    statement = insert.on_conflict_do_update(
        index_elements=["source", "search_key"], set_={"expires_at": insert.excluded.expires_at}
    )
    for part in batches(rows, MISS_ROWS):
        conn.execute(statement, part)


def forget_misses(conn: Connection, keys: Iterable[str]) -> None:
    """Drop remembered misses of these searches for every source (they were found since)."""
    for part in _slices(keys):
        conn.execute(sa.delete(source_misses).where(source_misses.c.search_key.in_(part)))


def purge_expired_misses(conn: Connection, now: dt.datetime, source: str | None = None) -> int:
    """Delete expired negative-cache rows (of one source, or all); how many went."""
    statement = sa.delete(source_misses).where(source_misses.c.expires_at <= now)
    if source is not None:
        statement = statement.where(source_misses.c.source == source)
    result = conn.execute(statement)
    return int(result.rowcount or 0)


def count_misses(conn: Connection, now: dt.datetime) -> dict[str, int]:
    """Source -> how many searches it is currently not asked again about."""
    query = (
        sa.select(source_misses.c.source, sa.func.count())
        .where(source_misses.c.expires_at > now)
        .group_by(source_misses.c.source)
    )
    return {source: int(count) for source, count in conn.execute(query)}


def forget_source_misses(conn: Connection, source: str) -> int:
    """Drop every remembered miss of one source (it will be asked again); how many went."""
    result = conn.execute(sa.delete(source_misses).where(source_misses.c.source == source))
    return int(result.rowcount or 0)


# --- upstream batches left running at a deadline ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenBatch:
    upstream_id: str
    searches: list[list[str | None]]
    submitted_at: dt.datetime


def open_batch(
    conn: Connection, source: str, upstream_id: str, searches: list[list[str | None]], now: dt.datetime
) -> None:
    """Remember an upstream batch to collect later."""
    conn.execute(
        _upsert(conn, source_batches)
        .values(upstream_id=upstream_id, source=source, searches=searches, submitted_at=now)
        .on_conflict_do_nothing(index_elements=["upstream_id"])
    )


def open_batches(conn: Connection, source: str) -> list[OpenBatch]:
    """The source's batches not collected yet, oldest first."""
    rows = conn.execute(
        sa.select(source_batches.c.upstream_id, source_batches.c.searches, source_batches.c.submitted_at)
        .where(source_batches.c.source == source, source_batches.c.closed_at.is_(None))
        .order_by(source_batches.c.submitted_at)
    )
    return [OpenBatch(row.upstream_id, list(row.searches), row.submitted_at) for row in rows]


def close_batch(conn: Connection, upstream_id: str, outcome: str, now: dt.datetime) -> bool:
    """Mark an open batch collected (or expired); False when another worker closed it first."""
    result = conn.execute(
        sa.update(source_batches)
        .where(source_batches.c.upstream_id == upstream_id, source_batches.c.closed_at.is_(None))
        .values(closed_at=now, outcome=outcome)
    )
    return bool(result.rowcount)


# --- vendor calls: what each request cost and what came of it ---------------------------------------


@dataclass(frozen=True, slots=True)
class CallStats:
    """The calls of one source (and country, when grouped by it) over a period."""

    source: str
    country: str | None
    asked: int
    billed: int
    found: int
    spend: float

    @property
    def hit_rate(self) -> float | None:
        return self.found / self.asked if self.asked else None

    @property
    def cost_per_found(self) -> float | None:
        return self.spend / self.found if self.found else None


def record_calls(
    conn: Connection, source: str, calls: Sequence[Call], now: dt.datetime, account_id: int | None = None
) -> None:
    """One ``source_calls`` row per request sent (in the transaction that accounts for its effect),
    charged to ``account_id`` when the searches were an account's."""
    rows = [
        {
            "source": source,
            "search_key": search_key(call.search),
            "request_id": (call.request_id or None) and call.request_id[:100],
            "billed": call.billed,
            "cost": call.cost,
            "outcome": call.outcome,
            "latency_ms": call.latency_ms,
            "country": call.country,
            "search_country": call.search_country,
            "account_id": account_id,
            "called_at": now,
        }
        for call in calls
    ]
    for part in batches(rows, MISS_ROWS):
        conn.execute(sa.insert(source_calls), part)


def spend_since(conn: Connection, source: str, since: dt.datetime) -> float:
    """What ``source`` was billed from ``since`` on (its budget's consumption)."""
    query = sa.select(sa.func.coalesce(sa.func.sum(source_calls.c.cost), 0.0)).where(
        source_calls.c.source == source, source_calls.c.called_at >= since, source_calls.c.billed.is_(True)
    )
    return float(conn.execute(query).scalar_one())


def account_spend_since(conn: Connection, account_id: int, since: dt.datetime) -> float:
    """What vendors billed for the account's searches from ``since`` on."""
    query = sa.select(sa.func.coalesce(sa.func.sum(source_calls.c.cost), 0.0)).where(
        source_calls.c.account_id == account_id,
        source_calls.c.called_at >= since,
        source_calls.c.billed.is_(True),
    )
    return float(conn.execute(query).scalar_one())


def call_stats(conn: Connection, since: dt.datetime | None, *, by_country: bool = False) -> list[CallStats]:
    """Asked, billed, found and spend per source (and per country of the number found, when asked)."""
    billed = sa.case((source_calls.c.billed.is_(True), 1), else_=0)
    found = sa.case((source_calls.c.outcome == "found", 1), else_=0)
    spend = sa.case((source_calls.c.billed.is_(True), source_calls.c.cost), else_=0.0)
    country = source_calls.c.country if by_country else sa.literal(None, sa.String).label("country")
    query = sa.select(
        source_calls.c.source,
        country.label("country"),
        sa.func.count().label("asked"),
        sa.func.sum(billed).label("billed"),
        sa.func.sum(found).label("found"),
        sa.func.sum(spend).label("spend"),
    )
    group = [source_calls.c.source, source_calls.c.country] if by_country else [source_calls.c.source]
    query = query.group_by(*group).order_by(*group)
    if since is not None:
        query = query.where(source_calls.c.called_at >= since)
    return [
        CallStats(
            row.source,
            row.country,
            int(row.asked),
            int(row.billed or 0),
            int(row.found or 0),
            float(row.spend or 0),
        )
        for row in conn.execute(query)
    ]


DEFINITIVE_OUTCOMES = ("found", "no_match", "masked")
"""Outcomes that say whether the vendor had the person (errors, timeouts and refusals do not)."""


def call_outcomes(
    conn: Connection, sources: Collection[str], country: str | None
) -> dict[str, tuple[int, int, float]]:
    """Source -> (definitive outcomes, found, spend) of its calls about searches of ``country``
    (None: searches whose country is unknown): the cost order's measurements."""
    if not sources:
        return {}
    found = sa.case((source_calls.c.outcome == "found", 1), else_=0)
    spend = sa.case((source_calls.c.billed.is_(True), source_calls.c.cost), else_=0.0)
    where_country = (
        source_calls.c.search_country.is_(None)
        if country is None
        else source_calls.c.search_country == country
    )
    query = (
        sa.select(
            source_calls.c.source,
            sa.func.count().label("outcomes"),
            sa.func.sum(found).label("found"),
            sa.func.sum(spend).label("spend"),
        )
        .where(
            source_calls.c.source.in_(sorted(sources)),
            where_country,
            source_calls.c.outcome.in_(DEFINITIVE_OUTCOMES),
        )
        .group_by(source_calls.c.source)
    )
    return {
        row.source: (int(row.outcomes), int(row.found or 0), float(row.spend or 0))
        for row in conn.execute(query)
    }


def paid_twice(conn: Connection, source: str | None = None) -> int:
    """How many (source, person) pairs were billed more than once: zero, or a bug."""
    query = (
        sa.select(source_calls.c.source, source_calls.c.search_key)
        .where(source_calls.c.billed.is_(True))
        .group_by(source_calls.c.source, source_calls.c.search_key)
        .having(sa.func.count() > 1)
    )
    if source is not None:
        query = query.where(source_calls.c.source == source)
    return len(conn.execute(query).all())


# --- leases: one vendor call per person, whoever asks ------------------------------------------------


def acquire_leases(
    conn: Connection, source: str, keys: Collection[str], holder: str, now: dt.datetime, until: dt.datetime
) -> set[str]:
    """Take the lease on each key nobody holds (or whose lease expired); the keys now held by ``holder``."""
    if not keys:
        return set()
    table = source_leases
    for part in _slices(keys):
        conn.execute(
            sa.delete(table).where(
                table.c.source == source, table.c.search_key.in_(part), table.c.expires_at <= now
            )
        )
    rows = [{"source": source, "search_key": key, "holder": holder, "expires_at": until} for key in keys]
    statement = _upsert(conn, table).on_conflict_do_nothing(index_elements=["source", "search_key"])
    for chunk in batches(rows, MISS_ROWS):
        conn.execute(statement, chunk)
    held: set[str] = set()
    for part in _slices(keys):
        held.update(
            conn.execute(
                sa.select(table.c.search_key).where(
                    table.c.source == source, table.c.search_key.in_(part), table.c.holder == holder
                )
            ).scalars()
        )
    return held


def leased(conn: Connection, source: str, keys: Collection[str], now: dt.datetime) -> set[str]:
    """The keys someone is asking ``source`` about right now (an unexpired lease)."""
    found: set[str] = set()
    for part in _slices(keys):
        found.update(
            conn.execute(
                sa.select(source_leases.c.search_key).where(
                    source_leases.c.source == source,
                    source_leases.c.search_key.in_(part),
                    source_leases.c.expires_at > now,
                )
            ).scalars()
        )
    return found


def release_leases(conn: Connection, source: str, holder: str) -> None:
    conn.execute(
        sa.delete(source_leases).where(source_leases.c.source == source, source_leases.c.holder == holder)
    )
