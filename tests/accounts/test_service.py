"""Accounts, keys and credits on both databases."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from trova.accounts import service as accounts
from trova.accounts.models import SearchRefund, Split
from trova.errors import (
    AccountExists,
    InsufficientCredits,
    InvalidApiKey,
    MissingApiKey,
    PhoneFeatureDisabled,
)
from trova.store import Database
from trova.store.engine import savepoint
from trova.store.tables import accounts as accounts_table


def test_create_stores_only_a_hash_and_authenticates(db: Database) -> None:
    with db.write() as conn:
        created = accounts.create_account(
            conn, "acme", credits=100, paygo=20, webhook_url="https://x.example/h"
        )
    assert created.api_key.startswith("trova_") and len(created.api_key) >= 6 + 43
    assert created.webhook_secret.startswith("whsec_")
    with db.read() as conn:
        stored = conn.execute(accounts_table.select()).one()
        assert created.api_key not in {str(value) for value in stored}
        assert stored.key_hash == accounts.hash_api_key(created.api_key)
        account = accounts.authenticate(conn, created.api_key, phone=True)
    assert (account.name, account.sub_credits, account.paygo_credits, account.credits) == (
        "acme",
        100,
        20,
        120,
    )


def test_keys_are_unique_and_random(db: Database) -> None:
    with db.write() as conn:
        keys = {accounts.create_account(conn, f"a{i}").api_key for i in range(5)}
    assert len(keys) == 5


def test_authentication_errors(db: Database) -> None:
    with db.write() as conn:
        created = accounts.create_account(conn, "acme")
    with db.read() as conn:
        with pytest.raises(MissingApiKey, match="No apikey found in the x-api-key headers"):
            accounts.authenticate(conn, None, phone=True)
        with pytest.raises(InvalidApiKey, match="This apikey is not valid"):
            accounts.authenticate(conn, created.api_key + "x", phone=True)
    with db.write() as conn:
        accounts.set_phone_enabled(conn, created.account.id, False)
    with db.read() as conn:
        with pytest.raises(PhoneFeatureDisabled, match="not allowed to use the phone search feature"):
            accounts.authenticate(conn, created.api_key, phone=True)
        assert accounts.authenticate(conn, created.api_key, phone=False).name == "acme"


def test_rotate_key_invalidates_the_old_one(db: Database) -> None:
    with db.write() as conn:
        created = accounts.create_account(conn, "acme")
        new_key = accounts.rotate_key(conn, created.account.id)
    with db.read() as conn:
        with pytest.raises(InvalidApiKey):
            accounts.authenticate(conn, created.api_key, phone=True)
        assert accounts.authenticate(conn, new_key, phone=True).id == created.account.id


def test_duplicate_name_is_refused(db: Database) -> None:
    with db.write() as conn:
        accounts.create_account(conn, "acme")
    with pytest.raises(AccountExists), db.write() as conn:
        accounts.create_account(conn, "acme")


@pytest.mark.parametrize(("sub", "count"), [(0, 4), (80, 4), (90, 4), (160, 4), (35, 1), (0, 0)])
def test_per_search_splits_spend_the_subscription_part_first_in_index_order(sub: int, count: int) -> None:
    price = 40
    total = Split(sub=sub, paygo=price * count - sub)
    per_search = accounts.per_search_splits(total, price, count)
    assert len(per_search) == count
    assert all(split.total == price for split in per_search)
    assert Split(sum(s.sub for s in per_search), sum(s.paygo for s in per_search)) == total
    assert [s.sub for s in per_search] == sorted((s.sub for s in per_search), reverse=True)
    assert sum(1 for s in per_search if 0 < s.sub < price) <= 1


def test_reserve_spends_subscription_first_and_refunds_to_origin(db: Database) -> None:
    with db.write() as conn:
        account = accounts.create_account(conn, "acme", credits=50, paygo=100).account
        split = accounts.reserve(conn, account.id, 120, batch_id="b1")
    assert split == Split(sub=50, paygo=70)
    assert split.source == "paygo"
    assert split.as_credits() == {"amount": 120, "source": "paygo", "split": {"fromSub": 50, "fromPaygo": 70}}
    per_search = accounts.per_search_splits(split, 40, 3)
    assert per_search == [Split(40, 0), Split(10, 30), Split(0, 40)]
    with db.write() as conn:
        given = accounts.refund(conn, account.id, batch_id="b1", refunds=[("s1", per_search[1])], note="t")
        again = accounts.refund(conn, account.id, batch_id="b1", refunds=[("s1", per_search[1])], note="t")
    assert given == Split(10, 30)
    assert again == Split(0, 0)
    with db.read() as conn:
        after = accounts.get_account(conn, account.id)
        assert after is not None
        assert (after.sub_credits, after.paygo_credits) == (10, 60)
        assert accounts.ledger_balance(conn, account.id) == Split(10, 60)
        totals = accounts.batch_ledger_totals(conn, "b1")
    assert totals == {"reserve": Split(-50, -70), "refund": Split(10, 30)}


def balances(conn: Connection, account_id: int) -> Split:
    account = accounts.get_account(conn, account_id)
    assert account is not None
    return Split(account.sub_credits, account.paygo_credits)


def test_refunds_of_several_accounts_and_batches_go_each_to_its_own_account_once(db: Database) -> None:
    with db.write() as conn:
        ann = accounts.create_account(conn, "ann", credits=100).account
        bea = accounts.create_account(conn, "bea", credits=0, paygo=100).account
        accounts.reserve(conn, ann.id, 80, batch_id="a1")
        accounts.reserve(conn, bea.id, 80, batch_id="b1")
    refunds = [
        SearchRefund(ann.id, "a1", "s1", Split(40, 0), "single"),
        SearchRefund(bea.id, "b1", "s2", Split(0, 40), "bulk"),
        SearchRefund(ann.id, "a1", "s3", Split(40, 0), "single"),
        SearchRefund(bea.id, "b1", "s4", Split(0, 0), "bulk"),
    ]
    with db.write() as conn:
        given = accounts.refund_searches(conn, refunds)
        again = accounts.refund_searches(conn, refunds)
    assert given == {ann.id: Split(80, 0), bea.id: Split(0, 40)}
    assert again == {}
    with db.read() as conn:
        assert accounts.ledger_balance(conn, ann.id) == Split(100, 0) == balances(conn, ann.id)
        assert accounts.ledger_balance(conn, bea.id) == Split(0, 60) == balances(conn, bea.id)


def test_reserve_refuses_beyond_the_balance_and_moves_nothing(db: Database) -> None:
    with db.write() as conn:
        account = accounts.create_account(conn, "acme", credits=30, paygo=10).account
    with pytest.raises(InsufficientCredits, match="Insufficient credits"), db.write() as conn:
        accounts.reserve(conn, account.id, 41, batch_id="b1")
    with db.write() as conn:
        assert accounts.reserve(conn, account.id, 40, batch_id="b2") == Split(30, 10)
    with db.read() as conn:
        after = accounts.get_account(conn, account.id)
        assert after is not None and after.credits == 0
        assert accounts.ledger_balance(conn, account.id) == Split(0, 0)
        assert [entry.kind for entry in accounts.ledger(conn, account.id)] == ["topup", "reserve"]


def test_balances_cannot_go_negative_even_bypassing_the_service(db: Database) -> None:
    import sqlalchemy as sa

    with db.write() as conn:
        account = accounts.create_account(conn, "acme", credits=10).account
    with pytest.raises(sa.exc.IntegrityError), db.write() as conn:
        conn.execute(accounts_table.update().values(sub_credits=-1).where(accounts_table.c.id == account.id))


def test_topup_adds_a_ledger_row(db: Database) -> None:
    with db.write() as conn:
        account = accounts.create_account(conn, "acme").account
        accounts.topup(conn, account.id, Split(sub=5, paygo=7), note="manual")
    with db.read() as conn:
        entries = accounts.ledger(conn, account.id)
        assert [(e.kind, e.sub_delta, e.paygo_delta, e.note) for e in entries] == [("topup", 5, 7, "manual")]
        assert accounts.ledger(conn, account.id, limit=1)[0].id == entries[-1].id


@pytest.mark.postgres
def test_a_refund_takes_the_account_row_only_as_its_transaction_ends() -> None:
    """While the job step that refunds goes on, another session updates the account's row without
    waiting (``NOWAIT``); the refund's credit lands on top of that update at the commit."""
    import sqlalchemy as sa

    from tests.support.databases import postgres_with_another_session
    from trova.store.migrate import upgrade

    with postgres_with_another_session(busy_timeout_s=5) as (db, other):
        upgrade(db)
        with db.write() as conn:
            account = accounts.create_account(conn, "acme", credits=50).account
            accounts.reserve(conn, account.id, 20, batch_id="b1")
        with db.write() as conn:
            accounts.refund(conn, account.id, batch_id="b1", refunds=[("s1", Split(10, 0))], note="t")
            with other.begin():
                other.execute(
                    sa.select(accounts_table.c.id)
                    .where(accounts_table.c.id == account.id)
                    .with_for_update(nowait=True, key_share=True)
                )
                other.execute(
                    sa.update(accounts_table)
                    .where(accounts_table.c.id == account.id)
                    .values(sub_credits=accounts_table.c.sub_credits + 5)
                )
        with db.read() as conn:
            after = accounts.get_account(conn, account.id)
    assert after is not None and after.sub_credits == 50 - 20 + 5 + 10


def test_a_transaction_refunding_several_accounts_credits_them_in_account_order(db: Database) -> None:
    """Two job steps refunding the same accounts lock their rows in the same order: no deadlock."""
    from typing import Any

    from sqlalchemy import event

    with db.write() as conn:
        first = accounts.create_account(conn, "first", credits=10).account
        second = accounts.create_account(conn, "second", credits=10).account
        for account in (first, second):
            accounts.reserve(conn, account.id, 4, batch_id=f"b{account.id}")
    credited: list[int] = []

    def seen(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("UPDATE ACCOUNTS"):
            credited.append(parameters["account_id"] if isinstance(parameters, dict) else parameters[-1])

    event.listen(db.engine, "before_cursor_execute", seen)
    with db.write() as conn:
        for account in (second, first):
            refunds = [("s", Split(4, 0))]
            accounts.refund(conn, account.id, batch_id=f"b{account.id}", refunds=refunds, note="t")
        assert credited == []
    event.remove(db.engine, "before_cursor_execute", seen)
    assert credited == [first.id, second.id]
    with db.read() as conn:
        balances = [accounts.get_account(conn, account.id) for account in (first, second)]
    assert [account.sub_credits for account in balances if account] == [10, 10]


def _balances(conn: Connection, account_id: int) -> tuple[int, int]:
    row = conn.execute(
        sa.select(accounts_table.c.sub_credits, accounts_table.c.paygo_credits).where(
            accounts_table.c.id == account_id
        )
    ).one()
    return row.sub_credits, row.paygo_credits


def test_takes_after_the_first_in_a_transaction_reach_the_row_at_its_commit(db: Database) -> None:
    with db.write() as conn:
        account = accounts.create_account(conn, "acme", credits=10, paygo=100).account
    with db.write() as conn:
        splits = [accounts.take(conn, account, amount, batch_id=f"b{amount}") for amount in (4, 3, 6)]
        assert _balances(conn, account.id) == (6, 100)  # only the first take's update so far
    assert splits == [Split(4, 0), Split(3, 0), Split(3, 3)]
    with db.read() as conn:
        assert _balances(conn, account.id) == (0, 97)
        assert accounts.ledger_balance(conn, account.id) == Split(0, 97)
        assert [entry.kind for entry in accounts.ledger(conn, account.id)] == ["topup"] + ["reserve"] * 3


def test_takes_undone_by_their_savepoints_give_back_what_they_took_from_the_running_balance(
    db: Database,
) -> None:
    with db.write() as conn:
        account = accounts.create_account(conn, "acme", credits=10).account
    with db.write() as conn:
        accounts.take(conn, account, 6, batch_id="first")
        with pytest.raises(RuntimeError), savepoint(conn):
            accounts.take(conn, account, 3, batch_id="undone")
            raise RuntimeError("the POST failed after its take")
        with pytest.raises(InsufficientCredits), savepoint(conn):
            accounts.take(conn, account, 5, batch_id="short")
        assert accounts.take(conn, account, 4, batch_id="last") == Split(4, 0)
    with db.read() as conn:
        assert _balances(conn, account.id) == (0, 0)
        assert accounts.batch_ledger_totals(conn, "undone") == {}
        assert accounts.ledger_balance(conn, account.id) == Split(0, 0)


def test_a_first_take_from_a_stale_snapshot_splits_the_balances_of_the_row(db: Database) -> None:
    with db.write() as conn:
        stale = accounts.create_account(conn, "acme", credits=10, paygo=10).account
    with db.write() as conn:
        accounts.reserve(conn, stale.id, 8, batch_id="elsewhere")
    with db.write() as conn:
        assert accounts.take(conn, stale, 4, batch_id="a") == Split(2, 2)
        assert accounts.take(conn, stale, 4, batch_id="b") == Split(0, 4)
    with db.read() as conn:
        assert _balances(conn, stale.id) == (0, 4)
