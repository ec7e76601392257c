"""Suppression through the real job path, finder and import, on both databases."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.privacy.support import (
    ADA_BY_NAME,
    ADA_BY_URL,
    ADA_PHONE,
    ADA_URL,
    BOB_BY_URL,
    BOB_PHONE,
    CARL_BY_NAME,
    SELECTORS,
    SETTINGS,
    account,
    build_store,
    bulk_results,
    credits_of,
    found_numbers,
    rows_holding,
    submit_bulk,
    submit_single,
    suppress,
    work,
    write_csv,
)
from trova.batches import service as batches
from trova.batches.events import single_result
from trova.batches.step import BatchStep
from trova.erasure import reports
from trova.erasure.selectors import selector_from
from trova.errors import SuppressionNotFound
from trova.finder.service import Finder
from trova.ingest.service import import_paths
from trova.jobs import service as jobs
from trova.people.models import Answer, Search
from trova.people.normalise import search_from_params
from trova.privacy import suppressions
from trova.store import Database


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
        single = single_result(batches.get_single(conn, owner, single_id))
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
        (entry,) = suppressions.list_suppressions(conn)
        assert entry.kind == "phone" and ADA_PHONE not in entry.label
        suppressions.unsuppress(conn, entry.id)
        with pytest.raises(SuppressionNotFound):
            suppressions.unsuppress(conn, entry.id)
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
        assert reports.audit_of_subject(conn, selector_from(phone=ADA_PHONE)) == []
