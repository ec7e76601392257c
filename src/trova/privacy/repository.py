"""All SQL of the privacy domain: the suppression list and the audit of revealed numbers.

Both are keyed by subject digests (``models.Subject.digest``). Lookups are bulk: a batch of
searches or answers costs one ``IN`` query per slice of digests, whatever its size.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Sequence
from functools import lru_cache
from typing import Any, TypeVar, get_args

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from trova.privacy.models import AuditEvent, Origin, Reveal, Subject, SubjectKind, Suppression
from trova.store.bulk import insert_many, reserve_ids
from trova.store.sql import batches
from trova.store.sql import distinct_slices as _slices
from trova.store.tables import audit_events, audit_subjects, suppressions
from trova.store.upsert import insert_ignore

LINK_ROWS = 1000
"""Subject links per multi-row ``INSERT`` (two bound values each, far below the parameter limits)."""

T = TypeVar("T")




# --- suppressions ----------------------------------------------------------------------------------


def _suppression(row: Any) -> Suppression:
    return Suppression(
        id=int(row.id),
        kind=row.kind,
        label=row.label,
        origin=row.origin,
        note=row.note,
        created_at=row.created_at,
    )


def add_suppressions(
    conn: Connection, subjects: Sequence[Subject], *, origin: Origin, note: str | None, now: dt.datetime
) -> tuple[list[Suppression], list[Suppression]]:
    """Suppress each subject once: ``(entries added now, entries that already existed)``."""
    rows = {
        subject.digest: {
            "kind": subject.kind,
            "key_hash": subject.digest,
            "label": subject.label[:200],
            "origin": origin,
            "note": note,
            "created_at": now,
        }
        for subject in subjects
    }
    if not rows:
        return [], []
    added: set[int] = set()
    for part in _slices(rows):
        result = conn.execute(
            insert_ignore(conn, suppressions)
            .values([rows[digest] for digest in part])
            .returning(suppressions.c.id)
        )
        added.update(int(entry_id) for (entry_id,) in result)
    entries = suppressions_by_digest(conn, rows)
    return (
        [entry for entry in entries if entry.id in added],
        [entry for entry in entries if entry.id not in added],
    )


def suppressions_by_digest(conn: Connection, digests: Iterable[str]) -> list[Suppression]:
    found: list[Suppression] = []
    for part in _slices(digests):
        found += [
            _suppression(row)
            for row in conn.execute(sa.select(suppressions).where(suppressions.c.key_hash.in_(part)))
        ]
    return sorted(found, key=lambda entry: entry.id)


SCREEN_SIZES = (16, 256, 2048)
"""Digests per screening statement, padded up to the next size: a handful of statement shapes."""


@lru_cache(maxsize=16)
def _screen_statement(size: int, dialect: sa.Dialect) -> tuple[str, bool]:
    """The screening ``SELECT … IN (…)`` for ``size`` digests, compiled once per dialect and size.

    The finder screens every batch; rendering thousands of bound parameters through SQLAlchemy
    each time would cost more than the lookup itself (the finder's repository does the same).
    """
    column = suppressions.c.key_hash
    params = [sa.bindparam(f"d{i}", type_=column.type) for i in range(size)]
    compiled = sa.select(column).where(column.in_(params)).compile(dialect=dialect)
    return str(compiled), bool(compiled.positional)


def suppressed_digests(conn: Connection, digests: Iterable[str]) -> set[str]:
    """The subset of ``digests`` on the suppression list."""
    found: set[str] = set()
    for part in _slices(digests, SCREEN_SIZES[-1]):
        size = next(size for size in SCREEN_SIZES if size >= len(part))
        padded = part + [part[0]] * (size - len(part))
        sql, positional = _screen_statement(size, conn.dialect)
        bound: tuple[str, ...] | dict[str, str] = (
            tuple(padded) if positional else {f"d{i}": digest for i, digest in enumerate(padded)}
        )
        found.update(digest for (digest,) in conn.exec_driver_sql(sql, bound))
    return found


def list_suppressions(conn: Connection) -> list[Suppression]:
    rows = conn.execute(sa.select(suppressions).order_by(suppressions.c.id))
    return [_suppression(row) for row in rows]


def delete_suppression(conn: Connection, entry_id: int) -> Suppression | None:
    """Remove one entry; the entry as it was, or None when there was no such entry."""
    row = conn.execute(
        sa.delete(suppressions).where(suppressions.c.id == entry_id).returning(*suppressions.c)
    ).first()
    return _suppression(row) if row else None


# --- audit -----------------------------------------------------------------------------------------


def add_audit_events(conn: Connection, reveals: Sequence[Reveal], *, now: dt.datetime) -> None:
    """One audit event per reveal, with the digests of every subject it concerns."""
    ids = reserve_ids(conn, audit_events, len(reveals))
    insert_many(
        conn,
        audit_events,
        AUDIT_COLUMNS,
        [
            (
                audit_id,
                reveal.account_id,
                reveal.batch_id,
                reveal.search_id,
                reveal.person_key,
                reveal.number,
                tuple(reveal.sources),
                now,
            )
            for audit_id, reveal in zip(ids, reveals, strict=True)
        ],
    )
    links = {
        (subject_key(subject.digest), audit_id)
        for audit_id, reveal in zip(ids, reveals, strict=True)
        for subject in reveal.subjects
    }
    insert_many(conn, audit_subjects, ("subject_key", "audit_id"), sorted(links))


def subject_key(digest: str) -> bytes:
    """The audit's key of a subject: its digest's 32 bytes (``audit_subjects`` holds them, not the hex)."""
    return bytes.fromhex(digest)


AUDIT_COLUMNS = ("id", "account_id", "batch_id", "search_id", "person_key", "number", "sources", "created_at")


def audit_ids_of(
    conn: Connection, *, digests: Collection[str] = (), person_keys: Collection[str] = ()
) -> set[int]:
    """Events that concern any of the subject digests, or any of the store people (``p:<id>``)."""
    found: set[int] = set()
    for part in _slices(digests):
        keys = [subject_key(digest) for digest in part]
        found.update(
            conn.execute(
                sa.select(audit_subjects.c.audit_id).where(audit_subjects.c.subject_key.in_(keys))
            ).scalars()
        )
    for part in _slices(person_keys):
        found.update(
            conn.execute(sa.select(audit_events.c.id).where(audit_events.c.person_key.in_(part))).scalars()
        )
    return found


def _event(row: Any, names: dict[int, str]) -> AuditEvent:
    return AuditEvent(
        id=int(row.id),
        account_id=int(row.account_id),
        account_name=names.get(int(row.account_id), f"#{row.account_id}"),
        created_at=row.created_at,
        batch_id=row.batch_id,
        search_id=row.search_id,
        person_key=row.person_key,
        number=row.number,
        sources=tuple(row.sources or ()),
    )


def audit_events_by_id(conn: Connection, ids: Collection[int]) -> list[sa.Row[Any]]:
    """The rows of the given events, oldest first."""
    rows: list[sa.Row[Any]] = []
    for part in _slices(sorted(ids)):
        rows += conn.execute(sa.select(audit_events).where(audit_events.c.id.in_(part))).all()
    return sorted(rows, key=lambda row: (row.created_at, row.id))


def audit_events_of_account(
    conn: Connection, account_id: int, *, limit: int | None = None
) -> list[sa.Row[Any]]:
    """What one account was shown, oldest first (the newest ``limit`` when given)."""
    query = sa.select(audit_events).where(audit_events.c.account_id == account_id)
    if limit is not None:
        query = query.order_by(audit_events.c.created_at.desc(), audit_events.c.id.desc()).limit(limit)
    rows = conn.execute(query).all()
    return sorted(rows, key=lambda row: (row.created_at, row.id))


def as_events(rows: Sequence[sa.Row[Any]], account_names: dict[int, str]) -> list[AuditEvent]:
    return [_event(row, account_names) for row in rows]


def search_ids_of_events(conn: Connection, ids: Collection[int]) -> set[str]:
    found: set[str] = set()
    for part in _slices(sorted(ids)):
        found.update(
            search_id
            for search_id in conn.execute(
                sa.select(audit_events.c.search_id).where(audit_events.c.id.in_(part))
            ).scalars()
            if search_id
        )
    return found


def numbers_of_events(conn: Connection, ids: Collection[int]) -> set[str]:
    found: set[str] = set()
    for part in _slices(sorted(ids)):
        found.update(
            number
            for number in conn.execute(
                sa.select(audit_events.c.number).where(audit_events.c.id.in_(part))
            ).scalars()
            if number
        )
    return found


def link_subjects(conn: Connection, ids: Collection[int], digests: Collection[str]) -> None:
    """Tie more subjects to existing events (erasure keeps a person findable once their keys are gone)."""
    events = sorted(ids)
    rows = [
        {"subject_key": key, "audit_id": audit_id}
        for key in sorted(subject_key(digest) for digest in digests)
        for audit_id in events
    ]
    for part in batches(rows, LINK_ROWS):
        conn.execute(insert_ignore(conn, audit_subjects).values(part))


def redact_numbers(conn: Connection, ids: Collection[int], numbers: Collection[str]) -> int:
    """Forget the number of the given events and of every event that revealed one of ``numbers``."""
    redacted = 0
    for part in _slices(sorted(ids)):
        redacted += conn.execute(
            sa.update(audit_events)
            .where(audit_events.c.id.in_(part), audit_events.c.number.is_not(None))
            .values(number=None)
        ).rowcount
    for numbers_part in _slices(numbers):
        redacted += conn.execute(
            sa.update(audit_events).where(audit_events.c.number.in_(numbers_part)).values(number=None)
        ).rowcount
    return redacted


def delete_audit_before(conn: Connection, cutoff: dt.datetime, *, limit: int) -> int:
    """Delete up to ``limit`` of the oldest events created before ``cutoff`` (their subjects go too)."""
    expired = (
        sa.select(audit_events.c.id)
        .where(audit_events.c.created_at < cutoff)
        .order_by(audit_events.c.id)
        .limit(limit)
    )
    ids = list(conn.execute(expired).scalars())
    if not ids:
        return 0
    conn.execute(sa.delete(audit_subjects).where(audit_subjects.c.audit_id.in_(ids)))
    return int(conn.execute(sa.delete(audit_events).where(audit_events.c.id.in_(ids))).rowcount)


def set_audit_time(conn: Connection, ids: Collection[int], created_at: dt.datetime) -> None:
    """Move events in time (operators' corrections and tests of retention)."""
    conn.execute(
        sa.update(audit_events).where(audit_events.c.id.in_(sorted(ids))).values(created_at=created_at)
    )


_KINDS_LISTED = sa.union_all(
    *(
        sa.select(sa.literal(kind, sa.String)).where(
            sa.exists().where(suppressions.c.kind == sa.literal(kind, sa.String))
        )
        for kind in get_args(SubjectKind)
    )
)
"""One probe of ``ix_suppressions_kind`` per kind, built once: the finder and every job step ask
it. ``SELECT DISTINCT kind`` read the whole list each time (28 ms at 200,000 entries on SQLite)."""


def suppressed_kinds(conn: Connection) -> frozenset[str]:
    """The kinds of subject the list holds at all: lets the finder skip the lookups it cannot need."""
    return frozenset(conn.execute(_KINDS_LISTED).scalars())
