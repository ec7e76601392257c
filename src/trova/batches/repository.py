"""All SQL of the batches domain: batches, their searches and results, and per-batch charged people."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Sequence
from functools import lru_cache
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from trova.accounts.models import Split
from trova.batches.models import Batch, BatchKind, NewSearch, SearchRow
from trova.store.bulk import insert_many, insert_one
from trova.store.sql import distinct_slices as _parts
from trova.store.sql import driver_rows
from trova.store.tables import batch_people, batches, search_errors, searches


def insert_batch(
    conn: Connection,
    *,
    batch_id: str,
    account_id: int,
    kind: BatchKind,
    custom: Any,
    has_custom: bool,
    webhook_url: str | None,
    requested: int,
    price: int,
    reserved: Split,
    now: dt.datetime,
    at_commit: bool = False,
) -> None:
    """``at_commit``: inserted at the transaction's end (``store.bulk.insert_many``)."""
    values = {
        "id": batch_id,
        "account_id": account_id,
        "kind": kind,
        "status": "ongoing",
        "custom": custom if has_custom else None,
        "has_custom": has_custom,
        "webhook_url": webhook_url,
        "requested": requested,
        "finished": 0,
        "price": price,
        "reserved_sub": reserved.sub,
        "reserved_paygo": reserved.paygo,
        "created_at": now,
    }
    insert_one(conn, batches, values, at_commit=at_commit)


def set_reservation(conn: Connection, batch_id: str, price: int, reserved: Split) -> None:
    """Rewrite a just-inserted batch's reservation and its searches' shares of it, in index order,
    subscription part first (as ``accounts.per_search_splits`` assigns them)."""
    conn.execute(
        batches.update()
        .where(batches.c.id == batch_id)
        .values(reserved_sub=reserved.sub, reserved_paygo=reserved.paygo)
    )
    if price <= 0:
        return
    whole, rest = divmod(reserved.sub, price)
    from_sub = sa.case((searches.c.idx < whole, price), (searches.c.idx == whole, rest), else_=0)
    conn.execute(
        searches.update()
        .where(searches.c.batch_id == batch_id)
        .values(reserved_sub=from_sub, reserved_paygo=price - from_sub)
    )


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


def insert_searches(
    conn: Connection,
    batch_id: str,
    ids: Iterable[str],
    new: Sequence[NewSearch],
    shares: Sequence[Split],
    *,
    at_commit: bool = False,
) -> None:
    """A batch's pending searches: ``new[i]`` with id ``ids[i]``, index ``i``, share ``shares[i]``
    (``at_commit``: inserted at the transaction's end).

    ``params`` and ``custom`` (only when ``has_custom``) are stored as JSON text (orjson). The rows
    are built as they are inserted (on PostgreSQL, while those already sent are being stored).
    """
    insert_many(
        conn,
        searches,
        NEW_SEARCH_COLUMNS,
        (
            (
                search_id,
                batch_id,
                index,
                search.has_custom,
                "pending",
                False,
                share.sub,
                share.paygo,
                _json_text(search.params),
                _json_text(search.custom) if search.has_custom else None,
            )
            for index, (search_id, search, share) in enumerate(zip(ids, new, shares, strict=True))
        ),
        count=len(new),
        at_commit=at_commit,
    )


_PLAIN_SEARCH_COLUMNS = (
    "id",
    "batch_id",
    "idx",
    "has_custom",
    "status",
    "charged",
    "reserved_sub",
    "reserved_paygo",
)
NEW_SEARCH_COLUMNS = (*_PLAIN_SEARCH_COLUMNS, "params", "custom")


def batch_of_row(row: sa.Row[Any]) -> Batch:
    return Batch(
        id=row.id,
        account_id=row.account_id,
        kind=row.kind,
        status=row.status,
        custom=row.custom,
        has_custom=bool(row.has_custom),
        webhook_url=row.webhook_url,
        requested=row.requested,
        finished=row.finished,
        price=row.price,
        reserved=Split(sub=int(row.reserved_sub), paygo=int(row.reserved_paygo)),
        created_at=row.created_at,
        completed_at=row.completed_at,
    )


_BATCH_BY_ID = sa.select(batches).where(batches.c.id == sa.bindparam("batch_id"))
_ACCOUNT_BATCH_BY_ID = _BATCH_BY_ID.where(batches.c.account_id == sa.bindparam("account_id"))
"""Built once: every GET of a batch (its results, its progress) reads it by id."""


def get_batch(conn: Connection, batch_id: str, *, account_id: int | None = None) -> Batch | None:
    """The batch with this id, only if it belongs to ``account_id`` when one is given."""
    if account_id is None:
        row = conn.execute(_BATCH_BY_ID, {"batch_id": batch_id}).first()
    else:
        row = conn.execute(_ACCOUNT_BATCH_BY_ID, {"batch_id": batch_id, "account_id": account_id}).first()
    return batch_of_row(row) if row else None


_BATCHES_BY_ID = sa.select(batches).where(batches.c.id.in_(sa.bindparam("batch_ids", expanding=True)))


def batches_by_id(conn: Connection, batch_ids: Collection[str]) -> dict[str, Batch]:
    """The batches of these ids that exist, by id, in one statement."""
    if not batch_ids:
        return {}
    rows = conn.execute(_BATCHES_BY_ID, {"batch_ids": sorted(batch_ids)})
    return {row.id: batch_of_row(row) for row in rows}


RESULT_COLUMNS = (
    searches.c.id,
    searches.c.idx,
    searches.c.params,
    searches.c.custom,
    searches.c.has_custom,
    searches.c.status,
    searches.c.qualification,
    searches.c.number,
    searches.c.country,
    searches.c.line_type,
    sa.cast(searches.c.source_names, sa.Text).label("source_names"),
    searches.c.last_seen,
    searches.c.do_not_call,
)
"""``source_names`` is read as JSON text (psycopg parses ``json`` with the standard library, row
by row), parsed by :func:`_source_names`: a batch repeats a few values. Read on the driver."""


def search_row(row: Any) -> SearchRow:
    search_id, index, params, custom, has_custom, status, qualification, number, country, line_type = row[:10]
    return SearchRow(
        search_id,
        index,
        orjson.loads(params) if params is not None else None,
        orjson.loads(custom) if has_custom and custom is not None else None,
        bool(has_custom),
        status,
        qualification,
        number,
        country,
        line_type,
        _source_names(row[10]),
        row[11],
        None if row[12] is None else bool(row[12]),
    )


def _source_names(value: str | list[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return _parsed_names(value)
    return tuple(value)


@lru_cache(maxsize=4096)
def _parsed_names(text: str) -> tuple[str, ...]:
    return tuple(orjson.loads(text) or ())


_BATCH = sa.select(*RESULT_COLUMNS).where(searches.c.batch_id == sa.bindparam("batch_id"))
_SEARCHES_OF_BATCH = _BATCH.order_by(searches.c.idx)  # built once, run by store.sql.driver_rows


def searches_of_batch(conn: Connection, batch_id: str) -> list[SearchRow]:
    """Every search of a batch in index order."""
    return [search_row(row) for row in driver_rows(conn, _SEARCHES_OF_BATCH, {"batch_id": batch_id})]


def search_errors_of(conn: Connection, batch_id: str) -> dict[str, list[str]]:
    """The recorded resolution errors of a batch's searches, by search id."""
    rows = conn.execute(
        sa.select(search_errors.c.search_id, search_errors.c.error)
        .join(searches, searches.c.id == search_errors.c.search_id)
        .where(searches.c.batch_id == batch_id)
        .order_by(search_errors.c.id)
    )
    found: dict[str, list[str]] = {}
    for row in rows:
        found.setdefault(row.search_id, []).append(row.error)
    return found


def searches_left(conn: Connection) -> int:
    """Searches accepted but not finished yet, over every ongoing batch."""
    left = sa.func.coalesce(sa.func.sum(batches.c.requested - batches.c.finished), 0)
    return int(conn.execute(sa.select(left).where(batches.c.status == "ongoing")).scalar_one())


def count_found(conn: Connection, batch_id: str) -> int:
    """Searches of one batch answered ``found`` so far (while it runs, too)."""
    value = conn.execute(
        sa.select(sa.func.count()).where(searches.c.batch_id == batch_id, searches.c.qualification == "found")
    ).scalar_one()
    return int(value)


def count_by_status(conn: Connection) -> dict[str, int]:
    rows = conn.execute(sa.select(batches.c.status, sa.func.count()).group_by(batches.c.status)).all()
    return {str(row[0]): int(row[1]) for row in rows}


# --- privacy: erasure and retention --------------------------------------------------------------


def searches_revealing(
    conn: Connection, *, numbers: Collection[str], person_keys: Collection[str]
) -> set[str]:
    """Searches whose stored result shows one of ``numbers`` or found one of the people ``person_keys``."""
    found: set[str] = set()
    for part in _parts(numbers):
        found.update(conn.execute(sa.select(searches.c.id).where(searches.c.number.in_(part))).scalars())
    for part in _parts(person_keys):
        found_people = searches.c.person_key.in_(part) & searches.c.number.is_not(None)
        found.update(conn.execute(sa.select(searches.c.id).where(found_people)).scalars())
    return found


def redact_results(conn: Connection, search_ids: Collection[str]) -> set[str]:
    """Remove the number fields (do-not-call flag too) from these results, not the ledger; their batches."""
    batch_ids: set[str] = set()
    redacted = dict.fromkeys(("number", "country", "line_type", "do_not_call"))
    for part in _parts(search_ids):
        conn.execute(searches.update().where(searches.c.id.in_(part)).values(**redacted))
        batch_ids.update(
            conn.execute(sa.select(searches.c.batch_id).where(searches.c.id.in_(part))).scalars()
        )
    return batch_ids


def expired_batches(conn: Connection, *, before: dt.datetime, limit: int) -> list[str]:
    """Up to ``limit`` finished batches completed before ``before``, oldest first (ongoing ones never)."""
    rows = conn.execute(
        sa.select(batches.c.id)
        .where(batches.c.status != "ongoing", batches.c.completed_at < before)
        .order_by(batches.c.completed_at, batches.c.id)
        .limit(limit)
    )
    return list(rows.scalars())


def delete_batches(conn: Connection, batch_ids: Collection[str]) -> int:
    """Delete batches with their searches (params and results); their jobs go by cascade, the ledger stays."""
    deleted = 0
    for part in _parts(batch_ids):
        conn.execute(sa.delete(batch_people).where(batch_people.c.batch_id.in_(part)))
        in_batches = sa.select(searches.c.id).where(searches.c.batch_id.in_(part))
        conn.execute(sa.delete(search_errors).where(search_errors.c.search_id.in_(in_batches)))
        conn.execute(sa.delete(searches).where(searches.c.batch_id.in_(part)))
        deleted += conn.execute(sa.delete(batches).where(batches.c.id.in_(part))).rowcount
    return deleted


def set_batch_times(
    conn: Connection, batch_id: str, *, created_at: dt.datetime, completed_at: dt.datetime | None
) -> None:
    """Move a batch and its results in time (operators' corrections and retention tests)."""
    times = {"created_at": created_at, "completed_at": completed_at}
    conn.execute(batches.update().where(batches.c.id == batch_id).values(**times))
    conn.execute(
        searches.update()
        .where(searches.c.batch_id == batch_id, searches.c.finished_at.is_not(None))
        .values(finished_at=completed_at or created_at)
    )
