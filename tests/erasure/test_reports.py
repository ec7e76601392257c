"""The audit reports on both databases: exactly the accounts that were shown a number."""

from __future__ import annotations

from tests.privacy.support import (
    ADA_BY_NAME,
    ADA_BY_URL,
    ADA_PHONE,
    BOB_BY_URL,
    BOB_PHONE,
    CARL_BY_NAME,
    SELECTORS,
    account,
    build_store,
    submit_bulk,
    submit_single,
    suppress,
    work,
)
from trova.erasure import reports
from trova.erasure.selectors import selector_from
from trova.store import Database


def test_audit_lists_exactly_the_accounts_that_received_the_number(db: Database) -> None:
    build_store(db)
    first, second, third, late = (account(db, name) for name in ("first", "second", "third", "late"))
    submit_single(db, first, ADA_BY_URL)
    submit_bulk(db, second, [ADA_BY_NAME, ADA_BY_NAME])
    submit_bulk(db, third, [BOB_BY_URL, CARL_BY_NAME])
    work(db)
    suppress(db, phone=ADA_PHONE)
    submit_single(db, late, ADA_BY_URL)
    work(db)

    with db.read() as conn:
        for selection in SELECTORS.values():
            events = reports.audit_of_subject(conn, selector_from(**selection))
            assert sorted(event.account_name for event in events) == ["first", "second", "second"]
            assert {event.number for event in events} == {ADA_PHONE}
            assert all(event.sources == ("crm",) for event in events)
        bob = reports.audit_of_subject(conn, selector_from(phone=BOB_PHONE))
        assert [event.account_name for event in bob] == ["third"]
        seen = reports.audit_of_account(conn, "third")
        assert sorted(event.number or "" for event in seen) == sorted([BOB_PHONE, "+447400123456"])
        assert reports.audit_of_account(conn, "late") == []
