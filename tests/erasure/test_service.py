"""Erasure on both databases: every row holding the number goes, and nothing brings it back."""

from __future__ import annotations

from pathlib import Path

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
    account,
    build_store,
    bulk_results,
    credits_of,
    found_numbers,
    rows_holding,
    submit_bulk,
    submit_single,
    work,
    write_csv,
)
from trova.erasure import reports
from trova.erasure import service as erasure
from trova.erasure.selectors import selector_from
from trova.finder.service import Finder
from trova.ingest.service import import_paths
from trova.people.normalise import search_from_params
from trova.store import Database, utcnow
from trova.webhooks import repository as webhooks_repo
from trova.webhooks.models import Outcome

SWITCHBOARD = "+33140000000"


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
        report = erasure.erase(conn, selector_from(linkedin=ADA_URL), now=utcnow())

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
        events = reports.audit_of_subject(conn, selector_from(linkedin=ADA_URL))
    assert sorted(event.account_name for event in events) == ["first", "second"]
    assert {event.number for event in events} == {None}


def test_erasure_by_phone_removes_that_number_only(db: Database) -> None:
    people = build_store(db)
    owner = account(db, "acme")
    batch_id = submit_bulk(db, owner, [ADA_BY_URL, BOB_BY_URL])
    work(db)
    with db.write() as conn:
        report = erasure.erase(conn, selector_from(phone=BOB_PHONE), now=utcnow())
    assert (report.people, report.phone_observations, report.search_results) == (0, 1, 1)
    assert rows_holding(db, BOB_PHONE) == []
    assert found_numbers(bulk_results(db, owner, batch_id)) == [ADA_PHONE, None]
    with db.read() as conn:
        assert erasure.people_of(conn, selector_from(linkedin=BOB_URL)) == {people["bob"]}


def test_erasure_leaves_a_switchboard_shared_with_colleagues(db: Database) -> None:
    store = StoreBuilder(db)
    example = store.company("Example", domains=("example.com",))
    store.person("Ada", "Lovelace", at=(example,), linkedin=ADA_URL, phones=(ADA_PHONE, SWITCHBOARD))
    colleague = store.person("Bob", "Babbage", at=(example,), linkedin=BOB_URL, phones=(SWITCHBOARD,))
    with db.write() as conn:
        report = erasure.erase(conn, selector_from(linkedin=ADA_URL), now=utcnow())
    assert (report.people, report.phone_observations) == (1, 2)
    assert rows_holding(db, ADA_PHONE) == []
    assert rows_holding(db, SWITCHBOARD) == ["phone_observations.e164", "phone_observations.raw"]
    with db.read() as conn:
        assert erasure.people_of(conn, selector_from(linkedin=BOB_URL)) == {colleague}
    (answer,) = Finder(db).resolve_many([search_from_params(BOB_BY_URL)])
    assert answer.number == SWITCHBOARD


def _weak_number_holder(db: Database, profiles: list[str]) -> dict[str, bool]:
    """For each profile: whether the number of the record without a profile is among that person's."""
    from trova.contacts import lookups
    from trova.finder.service import gather

    with db.read() as conn:
        owners = lookups.people_by_linkedin(conn, profiles)
        observations, _shared = gather(conn, owners.values())
    return {
        profile: any(o.e164 == "+33612340009" for o in observations.get(owners[profile], ()))
        for profile in profiles
        if profile in owners
    }


@pytest.mark.parametrize(("erased", "kept"), [("jan-1", "jan-2"), ("jan-2", "jan-1")])
def test_erasing_one_of_two_namesakes_gives_the_other_their_weak_record(
    db: Database, tmp_path: Path, erased: str, kept: str
) -> None:
    """docs/finder.md §2.6: the record without a profile is ambiguous while two namesakes could own
    it, and belongs to the one left once the other is erased (whichever it is)."""

    def row(url: str, phone: str) -> dict[str, str]:
        return {
            "linkedin_url": url,
            "first_name": "Jan",
            "last_name": "Jansen",
            "company_domain": "acme.nl",
            "phone": phone,
        }

    rows = [row("", "+33612340009"), row("linkedin.com/in/jan-1", "+33612340001")]
    import_paths(db, [write_csv(tmp_path / "a.csv", [*rows, row("linkedin.com/in/jan-2", "+33612340002")])])
    assert _weak_number_holder(db, ["jan-1", "jan-2"]) == {"jan-1": False, "jan-2": False}
    with db.write() as conn:
        erasure.erase(conn, selector_from(linkedin=f"https://www.linkedin.com/in/{erased}"), now=utcnow())
    assert _weak_number_holder(db, ["jan-1", "jan-2"]) == {kept: True}
