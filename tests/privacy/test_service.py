"""Suppression, erasure, retention and audit on both databases, through the real job path and finder."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.finder.builder import StoreBuilder
from tests.privacy.support import (
    ADA_BY_NAME,
    ADA_BY_URL,
    ADA_PHONE,
    ADA_URL,
    BOB_BY_URL,
    BOB_PHONE,
    BOB_URL,
    CARL_BY_NAME,
    SETTINGS,
    account,
    build_store,
    bulk_results,
    credits_of,
    rows_holding,
    submit_bulk,
    submit_single,
    work,
    write_csv,
)
from trova.accounts import service as accounts
from trova.batches import repository as batches_repo
from trova.batches import service as batches
from trova.batches.step import BatchStep
from trova.contacts.service import import_paths
from trova.errors import BulkNotFound, SuppressionNotFound
from trova.finder.service import Finder
from trova.jobs import service as jobs
from trova.people.models import Answer, Search
from trova.people.normalise import search_from_params
from trova.privacy import repository as privacy_repo
from trova.privacy import service as privacy
from trova.privacy.retention import purge_expired
from trova.settings import Settings
from trova.store import Database, utcnow
from trova.webhooks import repository as webhooks_repo
from trova.webhooks.models import Outcome

SWITCHBOARD = "+33140000000"
SELECTORS: dict[str, dict[str, str]] = {
    "phone": {"phone": "+33 6 12 34 56 78"},
    "linkedin": {"linkedin": "http://LinkedIn.com/in/ADA-LOVELACE/?trk=x"},
    "name_domain": {"first": "ADA", "last": "Lovelace", "domain": "https://www.example.com/about"},
}


def suppress(db: Database, **selection: str) -> None:
    with db.write() as conn:
        privacy.suppress(conn, privacy.selector_from(**selection).subjects(), now=utcnow())


def found_numbers(results: dict[str, Any]) -> list[str | None]:
    return [row.get("number") for row in results["results"]]


@pytest.mark.parametrize("kind", sorted(SELECTORS))
def test_suppressed_person_or_number_is_never_returned_nor_charged(db: Database, kind: str) -> None:
    build_store(db)
    owner = account(db, "acme", credits=1000)
    suppress(db, **SELECTORS[kind])
    batch_id = submit_bulk(db, owner, [ADA_BY_URL, ADA_BY_NAME, BOB_BY_URL, CARL_BY_NAME])
    single_id = submit_single(db, owner, ADA_BY_NAME)
    work(db)

    results = bulk_results(db, owner, batch_id)
    assert [row["qualification"] for row in results["results"]] == [
        "not_found",
        "not_found",
        "found",
        "found",
    ]
    assert found_numbers(results)[2] == BOB_PHONE
    assert results["stats"]["credits_cost"] == 80
    with db.read() as conn:
        _done, single = batches.get_single(conn, owner, single_id)
    assert single["qualification"] == "not_found"
    assert credits_of(db, owner) == 1000 - 80


def test_finder_answers_suppressed_searches_not_found_with_the_reason(db: Database) -> None:
    build_store(db)
    suppress(db, linkedin=ADA_URL)
    finder = Finder(db)
    by_name, by_url, bob = finder.resolve_many(
        [search_from_params(ADA_BY_NAME), search_from_params(ADA_BY_URL), search_from_params(BOB_BY_URL)]
    )
    assert (by_name.found, by_name.reason, by_name.person_key) == (False, "suppressed", None)
    assert (by_url.found, by_url.reason) == (False, "suppressed")
    assert bob.number == BOB_PHONE


def test_removing_an_entry_makes_the_person_findable_again(db: Database) -> None:
    build_store(db)
    suppress(db, phone=ADA_PHONE)
    with db.write() as conn:
        (entry,) = privacy.list_suppressions(conn)
        assert entry.kind == "phone" and ADA_PHONE not in entry.label
        privacy.unsuppress(conn, entry.id)
        with pytest.raises(SuppressionNotFound):
            privacy.unsuppress(conn, entry.id)
    (answer,) = Finder(db).resolve_many([search_from_params(ADA_BY_URL)])
    assert answer.number == ADA_PHONE


def test_import_skips_suppressed_people_and_numbers(db: Database, tmp_path: Path) -> None:
    suppress(db, linkedin="https://www.linkedin.com/in/dan")
    suppress(db, first="Eve", last="Stone", company="Stone Inc")
    suppress(db, phone="+33600000003")
    path = write_csv(
        tmp_path / "contacts.csv",
        [
            {"linkedin_url": "https://www.linkedin.com/in/dan", "phone": "+33600000001"},
            {
                "first_name": "Eve",
                "last_name": "Stone",
                "company_name": "Stone Inc.",
                "phone": "+33600000002",
            },
            {"linkedin_url": "https://www.linkedin.com/in/fay", "phone": "+33600000003"},
            {"linkedin_url": "https://www.linkedin.com/in/gus", "phone": "+33600000003;+33600000004"},
        ],
    )
    report = import_paths(db, [path])
    assert report.skipped == {"suppressed": 3}
    assert [(p.line, p.reason) for p in report.problems] == [
        (2, "suppressed"),
        (3, "suppressed"),
        (4, "suppressed"),
    ]
    assert report.records_stored == 1
    for number in ("+33600000001", "+33600000002", "+33600000003"):
        assert rows_holding(db, number) == []
    assert rows_holding(db, "+33600000004") == ["phone_observations.e164", "phone_observations.raw"]


def test_erasure_removes_every_row_holding_the_number_and_a_reimport_does_not_bring_it_back(
    db: Database, tmp_path: Path
) -> None:
    ada_row = {
        "linkedin_url": ADA_URL,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "company_domain": "example.com",
        "phone": ADA_PHONE,
    }
    bob_row = {
        "linkedin_url": BOB_URL,
        "first_name": "Bob",
        "last_name": "Babbage",
        "company_domain": "example.com",
        "phone": BOB_PHONE,
    }
    path = write_csv(tmp_path / "crm.csv", [ada_row, bob_row])
    import_paths(db, [path])
    first, second = account(db, "first", credits=1000), account(db, "second", credits=1000)
    single_id = submit_single(db, first, ADA_BY_URL, webhook="http://127.0.0.1:9/hook")
    batch_id = submit_bulk(db, second, [ADA_BY_NAME, BOB_BY_URL], webhook="http://127.0.0.1:9/hook")
    work(db)
    with db.write() as conn:
        (message,) = webhooks_repo.messages_of_batch(conn, single_id)
        echo = f'{{"received": "{ADA_PHONE}"}}'
        webhooks_repo.insert_attempt(
            conn, message.id, Outcome("retry", utcnow(), 12, status_code=500, response_excerpt=echo)
        )
    assert {
        "phone_observations.e164",
        "searches.number",
        "webhook_messages.payload",
        "audit_events.number",
        "webhook_attempts.response_excerpt",
    } <= set(rows_holding(db, ADA_PHONE))
    spent = (credits_of(db, first), credits_of(db, second))

    with db.write() as conn:
        report = privacy.erase(conn, privacy.selector_from(linkedin=ADA_URL), now=utcnow())

    assert rows_holding(db, ADA_PHONE) == []
    assert (report.people, report.phone_observations, report.search_results) == (1, 1, 2)
    assert (report.webhook_payloads, report.webhook_responses, report.audit_entries_redacted) == (1, 1, 2)
    assert {entry.kind for entry in report.suppressions} == {"linkedin", "name_domain", "phone"}
    assert (credits_of(db, first), credits_of(db, second)) == spent
    results = bulk_results(db, second, batch_id)
    assert found_numbers(results) == [None, BOB_PHONE]
    assert results["stats"]["credits_cost"] == 80

    again = import_paths(db, [path])
    assert again.skipped == {"suppressed": 1}
    assert rows_holding(db, ADA_PHONE) == []
    (answer,) = Finder(db).resolve_many([search_from_params(ADA_BY_NAME)])
    assert answer.reason == "suppressed"
    with db.read() as conn:
        events = privacy.audit_of_subject(conn, privacy.selector_from(linkedin=ADA_URL))
    assert sorted(event.account_name for event in events) == ["first", "second"]
    assert {event.number for event in events} == {None}


def test_erasure_by_phone_removes_that_number_only(db: Database) -> None:
    people = build_store(db)
    owner = account(db, "acme")
    batch_id = submit_bulk(db, owner, [ADA_BY_URL, BOB_BY_URL])
    work(db)
    with db.write() as conn:
        report = privacy.erase(conn, privacy.selector_from(phone=BOB_PHONE), now=utcnow())
    assert (report.people, report.phone_observations, report.search_results) == (0, 1, 1)
    assert rows_holding(db, BOB_PHONE) == []
    assert found_numbers(bulk_results(db, owner, batch_id)) == [ADA_PHONE, None]
    with db.read() as conn:
        assert privacy.people_of(conn, privacy.selector_from(linkedin=BOB_URL)) == {people["bob"]}


def test_retention_deletes_exactly_the_expired_results_and_audit_events(db: Database) -> None:
    build_store(db)
    owner = account(db, "acme")
    old, recent, fresh = (
        submit_bulk(db, owner, [ADA_BY_URL], webhook="http://127.0.0.1:9/h") for _ in range(3)
    )
    work(db)
    ongoing = submit_bulk(db, owner, [BOB_BY_URL])
    now = utcnow()
    with db.write() as conn:
        batches_repo.set_batch_times(
            conn, old, created_at=now - dt.timedelta(days=92), completed_at=now - dt.timedelta(days=91)
        )
        batches_repo.set_batch_times(
            conn, recent, created_at=now - dt.timedelta(days=90), completed_at=now - dt.timedelta(days=89)
        )
        batches_repo.set_batch_times(
            conn, ongoing, created_at=now - dt.timedelta(days=400), completed_at=None
        )
        events = privacy_repo.audit_ids_of(conn, person_keys={"p:1"})
        oldest, older, *_ = sorted(events)
        privacy_repo.set_audit_time(conn, [oldest], now - dt.timedelta(days=366))
        privacy_repo.set_audit_time(conn, [older], now - dt.timedelta(days=364))
        ledger_before = accounts.batch_ledger_totals(conn, old)

    report = purge_expired(db, Settings(result_retention_days=90, audit_retention_days=365), now=now)

    assert (report.batches, report.webhook_messages, report.audit_events) == (1, 1, 1)
    with db.read() as conn:
        with pytest.raises(BulkNotFound):
            batches.get_bulk(conn, owner, old)
        assert all(batches.get_bulk(conn, owner, kept) for kept in (recent, fresh, ongoing))
        assert accounts.batch_ledger_totals(conn, old) == ledger_before
        assert webhooks_repo.messages_of_batch(conn, old) == []
        assert privacy_repo.audit_ids_of(conn, person_keys={"p:1"}) == events - {oldest}
    assert purge_expired(db, Settings(result_retention_days=90), now=now).total == 0


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
            events = privacy.audit_of_subject(conn, privacy.selector_from(**selection))
            assert sorted(event.account_name for event in events) == ["first", "second", "second"]
            assert {event.number for event in events} == {ADA_PHONE}
            assert all(event.sources == ("crm",) for event in events)
        bob = privacy.audit_of_subject(conn, privacy.selector_from(phone=BOB_PHONE))
        assert [event.account_name for event in bob] == ["third"]
        seen = privacy.audit_of_account(conn, "third")
        assert sorted(event.number or "" for event in seen) == sorted([BOB_PHONE, "+447400123456"])
        assert privacy.audit_of_account(conn, "late") == []


class SuppressingFinder(Finder):
    """Resolves the chunk, then an operator suppresses a number before the job step stores it."""

    def __init__(self, db: Database, number: str) -> None:
        super().__init__(db)
        self.number = number

    def resolve_many(self, searches: Sequence[Search]) -> list[Answer]:
        answers = super().resolve_many(searches)
        suppress(self.db, phone=self.number)
        return answers


def test_an_entry_added_while_a_chunk_resolves_still_wins(db: Database) -> None:
    build_store(db)
    owner = account(db, "acme", credits=1000)
    batch_id = submit_bulk(db, owner, [ADA_BY_URL, BOB_BY_URL])
    jobs.run_until_idle(db, SETTINGS, BatchStep(db, SETTINGS, SuppressingFinder(db, ADA_PHONE)))
    results = bulk_results(db, owner, batch_id)
    assert found_numbers(results) == [None, BOB_PHONE]
    assert [row["qualification"] for row in results["results"]] == ["not_found", "found"]
    assert credits_of(db, owner) == 1000 - 40
    with db.read() as conn:
        assert privacy.audit_of_subject(conn, privacy.selector_from(phone=ADA_PHONE)) == []


def test_erasure_leaves_a_switchboard_shared_with_colleagues(db: Database) -> None:
    store = StoreBuilder(db)
    example = store.company("Example", domains=("example.com",))
    store.person("Ada", "Lovelace", at=(example,), linkedin=ADA_URL, phones=(ADA_PHONE, SWITCHBOARD))
    colleague = store.person("Bob", "Babbage", at=(example,), linkedin=BOB_URL, phones=(SWITCHBOARD,))
    with db.write() as conn:
        report = privacy.erase(conn, privacy.selector_from(linkedin=ADA_URL), now=utcnow())
    assert (report.people, report.phone_observations) == (1, 2)
    assert rows_holding(db, ADA_PHONE) == []
    assert rows_holding(db, SWITCHBOARD) == ["phone_observations.e164", "phone_observations.raw"]
    with db.read() as conn:
        assert privacy.people_of(conn, privacy.selector_from(linkedin=BOB_URL)) == {colleague}
    (answer,) = Finder(db).resolve_many([search_from_params(BOB_BY_URL)])
    assert answer.number == SWITCHBOARD
