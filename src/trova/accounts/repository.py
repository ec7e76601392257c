"""All SQL of the accounts domain: accounts, keys, balances and the credit ledger."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from trova.accounts.models import Account, LedgerEntry, LedgerKind, SearchRefund, Split
from trova.store.bulk import insert_new, insert_one
from trova.store.sql import first_row, returned_rows
from trova.store.tables import accounts, ledger_entries

_ACCOUNT_COLUMNS = (
    accounts.c.id,
    accounts.c.name,
    accounts.c.key_prefix,
    accounts.c.sub_credits,
    accounts.c.paygo_credits,
    accounts.c.phone_enabled,
    accounts.c.webhook_url,
    accounts.c.created_at,
    accounts.c.upstream_budget_per_month,
)


def _account(row: Any) -> Account:
    """The account of a row (or tuple) starting with :data:`_ACCOUNT_COLUMNS`."""
    account_id, name, prefix, sub, paygo, phone_enabled, webhook_url, created_at, budget = row[:9]
    return Account(
        id=account_id,
        name=name,
        key_prefix=prefix,
        sub_credits=int(sub),
        paygo_credits=int(paygo),
        phone_enabled=bool(phone_enabled),
        webhook_url=webhook_url,
        created_at=created_at,
        upstream_budget_per_month=budget,
    )


def insert_account(
    conn: Connection,
    *,
    name: str,
    key_hash: str,
    key_prefix: str,
    webhook_url: str | None,
    webhook_secret: str,
    now: dt.datetime,
) -> int:
    """A new account with empty balances; credits arrive through :func:`add_credits` + a ledger row."""
    result = conn.execute(
        accounts.insert()
        .values(
            name=name,
            key_hash=key_hash,
            key_prefix=key_prefix,
            sub_credits=0,
            paygo_credits=0,
            phone_enabled=True,
            webhook_url=webhook_url,
            webhook_secret=webhook_secret,
            created_at=now,
        )
        .returning(accounts.c.id)
    )
    return int(result.scalar_one())


def account_by_name(conn: Connection, name: str) -> Account | None:
    row = conn.execute(sa.select(*_ACCOUNT_COLUMNS).where(accounts.c.name == name)).first()
    return _account(row) if row else None


def account_by_id(conn: Connection, account_id: int) -> Account | None:
    row = conn.execute(sa.select(*_ACCOUNT_COLUMNS).where(accounts.c.id == account_id)).first()
    return _account(row) if row else None


_BY_IDS = sa.select(*_ACCOUNT_COLUMNS).where(accounts.c.id.in_(sa.bindparam("account_ids", expanding=True)))


def accounts_by_id(conn: Connection, account_ids: Collection[int]) -> dict[int, Account]:
    """The accounts of these ids that exist, by id, in one statement."""
    if not account_ids:
        return {}
    rows = conn.execute(_BY_IDS, {"account_ids": sorted(account_ids)})
    return {account.id: account for account in map(_account, rows)}


_BY_KEY_HASH = sa.select(*_ACCOUNT_COLUMNS, accounts.c.key_hash).where(
    accounts.c.key_hash == sa.bindparam("key_hash")
)
"""Built once: every authenticated request runs it, on the driver (:func:`~trova.store.sql.first_row`)."""


def account_and_hash_by_key_hash(conn: Connection, key_hash: str) -> tuple[Account, str] | None:
    """The account whose key hashes to ``key_hash``, with the stored hash for a constant-time compare."""
    row = first_row(conn, _BY_KEY_HASH, {"key_hash": key_hash})
    return (_account(row), str(row[9])) if row else None


def list_accounts(conn: Connection) -> list[Account]:
    rows = conn.execute(sa.select(*_ACCOUNT_COLUMNS).order_by(accounts.c.id)).all()
    return [_account(row) for row in rows]


def lock_account(conn: Connection, account_id: int) -> Account | None:
    """Read the account row and lock it until the transaction ends.

    ``FOR NO KEY UPDATE`` serialises concurrent reservations on PostgreSQL; on SQLite the clause is
    dropped and the ``BEGIN IMMEDIATE`` write transaction already serialises every writer. Not
    ``FOR UPDATE``: that one waits for the key-share locks that inserts referencing the account take,
    and two submissions that both inserted their batch before locking would wait for each other.
    """
    row = conn.execute(
        sa.select(*_ACCOUNT_COLUMNS).where(accounts.c.id == account_id).with_for_update(key_share=True)
    ).first()
    return _account(row) if row else None


def take_credits(conn: Connection, account_id: int, split: Split) -> bool:
    """Subtract ``split`` from the balances only if both pools cover it; False when they do not."""
    result = conn.execute(
        accounts.update()
        .where(
            accounts.c.id == account_id,
            accounts.c.sub_credits >= split.sub,
            accounts.c.paygo_credits >= split.paygo,
        )
        .values(
            sub_credits=accounts.c.sub_credits - split.sub,
            paygo_credits=accounts.c.paygo_credits - split.paygo,
        )
    )
    return result.rowcount == 1


_TAKE_AS_SPLIT = {
    paygo_part: accounts.update()
    .where(
        accounts.c.id == sa.bindparam("account_id"),
        (accounts.c.sub_credits == sa.bindparam("sub"))
        if paygo_part
        else (accounts.c.sub_credits >= sa.bindparam("sub")),
        accounts.c.paygo_credits >= sa.bindparam("paygo"),
    )
    .values(
        sub_credits=accounts.c.sub_credits - sa.bindparam("sub"),
        paygo_credits=accounts.c.paygo_credits - sa.bindparam("paygo"),
    )
    .returning(accounts.c.sub_credits, accounts.c.paygo_credits)
    for paygo_part in (False, True)
}
"""The two statements of :func:`take_as_split`, built once (a POST runs one of them)."""


def take_as_split(conn: Connection, account_id: int, split: Split) -> Split | None:
    """Subtract ``split`` only if it is the very split :func:`~trova.accounts.service.split_reservation`
    would compute from the balances as they are now (subscription first); the balances left, or
    None when it did not.

    Without a lock taken before: the update waits only for a concurrent update of the same row and
    then re-checks its condition against the committed values (PostgreSQL's read committed), so a
    reservation can hold the account row from this statement to its commit only.
    """
    params = {"account_id": account_id, "sub": split.sub, "paygo": split.paygo}
    rows = returned_rows(conn, _TAKE_AS_SPLIT[split.paygo != 0], params)
    return Split(sub=rows[0][0], paygo=rows[0][1]) if rows else None


_ADD_CREDITS = (
    accounts.update()
    .where(accounts.c.id == sa.bindparam("account_id"))
    .values(
        sub_credits=accounts.c.sub_credits + sa.bindparam("sub"),
        paygo_credits=accounts.c.paygo_credits + sa.bindparam("paygo"),
    )
)


def add_credits(conn: Connection, account_id: int, split: Split) -> None:
    """Add ``split`` to the balances (top-ups and refunds), relative to the committed values."""
    if split.sub == 0 and split.paygo == 0:
        return
    conn.execute(_ADD_CREDITS, {"account_id": account_id, "sub": split.sub, "paygo": split.paygo})


def set_key(conn: Connection, account_id: int, *, key_hash: str, key_prefix: str) -> None:
    conn.execute(
        accounts.update().where(accounts.c.id == account_id).values(key_hash=key_hash, key_prefix=key_prefix)
    )


def set_upstream_budget(conn: Connection, account_id: int, per_month: float | None) -> None:
    conn.execute(
        accounts.update().where(accounts.c.id == account_id).values(upstream_budget_per_month=per_month)
    )


def set_phone_enabled(conn: Connection, account_id: int, enabled: bool) -> None:
    conn.execute(accounts.update().where(accounts.c.id == account_id).values(phone_enabled=enabled))


_WEBHOOK_URLS = sa.select(accounts.c.id, accounts.c.webhook_url).where(
    accounts.c.id.in_(sa.bindparam("account_ids", expanding=True)), accounts.c.webhook_url.is_not(None)
)


def default_webhook_urls(conn: Connection, account_ids: Collection[int]) -> dict[int, str]:
    """The webhook URL of each of these accounts that has one, in one statement."""
    if not account_ids:
        return {}
    return {
        row.id: row.webhook_url for row in conn.execute(_WEBHOOK_URLS, {"account_ids": sorted(account_ids)})
    }


# --- ledger --------------------------------------------------------------------------------------


def insert_ledger_entry(
    conn: Connection,
    *,
    account_id: int,
    kind: LedgerKind,
    delta: Split,
    now: dt.datetime,
    batch_id: str | None = None,
    search_id: str | None = None,
    note: str | None = None,
    at_commit: bool = False,
) -> None:
    """``at_commit``: inserted at the transaction's end (``store.bulk.insert_many``)."""
    values = {
        "account_id": account_id,
        "kind": kind,
        "batch_id": batch_id,
        "search_id": search_id,
        "sub_delta": delta.sub,
        "paygo_delta": delta.paygo,
        "note": note,
        "created_at": now,
    }
    insert_one(conn, ledger_entries, values, at_commit=at_commit)


def set_reserve_entry(conn: Connection, batch_id: str, split: Split) -> None:
    """Rewrite the amounts of a batch's ``reserve`` row, written provisionally in the same transaction."""
    conn.execute(
        ledger_entries.update()
        .where(ledger_entries.c.kind == "reserve", ledger_entries.c.batch_id == batch_id)
        .values(sub_delta=-split.sub, paygo_delta=-split.paygo)
    )


_REFUND_COLUMNS = (
    "account_id",
    "kind",
    "batch_id",
    "search_id",
    "sub_delta",
    "paygo_delta",
    "note",
    "created_at",
)


def insert_refunds(
    conn: Connection, refunds: Sequence[SearchRefund], *, now: dt.datetime
) -> dict[int, Split]:
    """One ``refund`` row per refund of a search, skipping searches already refunded, in one
    statement for all of them (a page of multi-row inserts).

    Returns, per account, the total of the rows really inserted: the caller gives exactly that back
    to the pools, so a refund replayed after a crash moves nothing twice.
    """
    by_search = {refund.search_id: refund for refund in refunds if refund.split.total > 0}
    rows = [
        (r.account_id, "refund", r.batch_id, r.search_id, r.split.sub, r.split.paygo, r.note, now)
        for r in by_search.values()
    ]
    given: dict[int, Split] = {}
    for search_id in insert_new(conn, ledger_entries, _REFUND_COLUMNS, rows, returning="search_id"):
        refund = by_search[search_id]
        so_far = given.get(refund.account_id, Split(sub=0, paygo=0))
        given[refund.account_id] = Split(so_far.sub + refund.split.sub, so_far.paygo + refund.split.paygo)
    return given


def ledger_for_account(conn: Connection, account_id: int, *, limit: int | None = None) -> list[LedgerEntry]:
    query = (
        sa.select(ledger_entries)
        .where(ledger_entries.c.account_id == account_id)
        .order_by(ledger_entries.c.id.desc() if limit else ledger_entries.c.id)
    )
    if limit:
        query = query.limit(limit)
    rows = conn.execute(query).all()
    entries = [
        LedgerEntry(
            id=row.id,
            kind=row.kind,
            batch_id=row.batch_id,
            search_id=row.search_id,
            sub_delta=int(row.sub_delta),
            paygo_delta=int(row.paygo_delta),
            note=row.note,
            created_at=row.created_at,
        )
        for row in rows
    ]
    return sorted(entries, key=lambda entry: entry.id)


def ledger_balance(conn: Connection, account_id: int) -> Split:
    """The balances the ledger implies: the sum of every delta of the account."""
    row = conn.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(ledger_entries.c.sub_delta), 0),
            sa.func.coalesce(sa.func.sum(ledger_entries.c.paygo_delta), 0),
        ).where(ledger_entries.c.account_id == account_id)
    ).one()
    return Split(sub=int(row[0]), paygo=int(row[1]))


_BATCH_LEDGER_TOTALS = (
    sa.select(
        ledger_entries.c.kind,
        sa.func.coalesce(sa.func.sum(ledger_entries.c.sub_delta), 0),
        sa.func.coalesce(sa.func.sum(ledger_entries.c.paygo_delta), 0),
    )
    .where(ledger_entries.c.batch_id == sa.bindparam("batch_id"))
    .group_by(ledger_entries.c.kind)
)


def batch_ledger_totals(conn: Connection, batch_id: str) -> dict[LedgerKind, Split]:
    """Per kind, the total moved for one batch (reserve deltas are negative, refunds positive)."""
    rows = conn.execute(_BATCH_LEDGER_TOTALS, {"batch_id": batch_id}).all()
    return {row[0]: Split(sub=int(row[1]), paygo=int(row[2])) for row in rows}


# --- webhook columns (used by the webhooks domain) -----------------------------------------------


def webhook_secret_columns(
    conn: Connection, account_id: int
) -> tuple[str, str | None, dt.datetime | None] | None:
    """The account's current webhook secret, the previous one and when it was rotated; None if unknown."""
    row = conn.execute(
        sa.select(
            accounts.c.webhook_secret,
            accounts.c.webhook_secret_previous,
            accounts.c.webhook_secret_rotated_at,
        ).where(accounts.c.id == account_id)
    ).first()
    return (str(row[0]), row[1], row[2]) if row else None


def set_webhook_url(conn: Connection, account_id: int, url: str | None) -> None:
    conn.execute(accounts.update().where(accounts.c.id == account_id).values(webhook_url=url))


def rotate_webhook_secret(conn: Connection, account_id: int, *, secret: str, now: dt.datetime) -> None:
    """Make ``secret`` current; the current one becomes the previous one (signed with for a while)."""
    conn.execute(
        accounts.update()
        .where(accounts.c.id == account_id)
        .values(
            webhook_secret_previous=accounts.c.webhook_secret,
            webhook_secret=secret,
            webhook_secret_rotated_at=now,
        )
    )


def account_names(conn: Connection, account_ids: Sequence[int]) -> dict[int, str]:
    if not account_ids:
        return {}
    rows = conn.execute(sa.select(accounts.c.id, accounts.c.name).where(accounts.c.id.in_(list(account_ids))))
    return {int(row.id): str(row.name) for row in rows}
