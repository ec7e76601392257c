"""Spending like a careful buyer: a waterfall of vendors stops at the first valid number, budgets
bound the spend, and two searches for one person in flight at once cause one vendor call."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from tests.sources.provider import running
from tests.sources.support import finder, resolve, stats
from tests.sources.vendors.fakes import FakeKaspr, FakeLusha, FakePdl, Phone
from tests.sources.vendors.support import ENV, call_rows, linkedin, vendor_config
from trova.people.models import Answer
from trova.sources import repository as repo
from trova.store import Database


@pytest.fixture
def three() -> Iterator[tuple[FakePdl, FakeLusha, FakeKaspr]]:
    with ExitStack() as stack:
        yield (
            stack.enter_context(running(FakePdl())),
            stack.enter_context(running(FakeLusha())),
            stack.enter_context(running(FakeKaspr())),
        )


def test_waterfall_of_three_stops_at_the_first_valid_number(
    db: Database, three: tuple[FakePdl, FakeLusha, FakeKaspr]
) -> None:
    pdl, lusha, kaspr = three
    pdl.people["ada"] = [Phone("+33612345678")]
    lusha.people["bob"] = [Phone("+33698765432")]
    lusha.people["ada"] = [Phone("+33600000000")]
    kaspr.people["bob"] = [Phone("+33611111111")]
    configs = (
        vendor_config("pdl", pdl, price=1),
        vendor_config("lusha", lusha, price=2),
        vendor_config("kaspr", kaspr, price=5),
    )
    answers = resolve(finder(db, *configs, environ=ENV), [linkedin("ada"), linkedin("bob"), linkedin("cy")])
    assert [(a.number, a.sources) for a in answers] == [
        ("+33612345678", ("pdl",)),
        ("+33698765432", ("lusha",)),
        (None, ()),
    ]
    asked = {name: len(fake.received) for name, fake in zip(("pdl", "lusha", "kaspr"), three, strict=True)}
    assert asked == {"pdl": 3, "lusha": 2, "kaspr": 1}
    with db.read() as conn:
        rows = repo.call_stats(conn, None)
        summary = {row.source: (row.asked, row.billed, row.found, row.spend) for row in rows}
        assert repo.paid_twice(conn) == 0
    assert summary == {"pdl": (3, 1, 1, 1.0), "lusha": (2, 1, 1, 2.0), "kaspr": (1, 0, 0, 0.0)}


def test_a_found_person_is_never_paid_for_again(
    db: Database, three: tuple[FakePdl, FakeLusha, FakeKaspr]
) -> None:
    """A found number is kept: asking again for the same person costs nothing anywhere."""
    pdl, lusha, _ = three
    pdl.people["ada"] = [Phone("+33612345678")]
    configs = (vendor_config("pdl", pdl), vendor_config("lusha", lusha))
    for _ in range(3):
        [answer] = resolve(finder(db, *configs, environ=ENV), [linkedin("ada")])
        assert answer.number == "+33612345678"
    assert (len(pdl.received), len(lusha.received)) == (1, 0)


def test_daily_budget_skips_the_source_once_spent(db: Database) -> None:
    with running(FakePdl()) as pdl:
        for slug in ("a1", "a2", "a3"):
            pdl.people[slug] = [Phone("+3361234567" + slug[-1])]
        config = vendor_config("pdl", pdl, price=2.5, budget_per_day=5)
        answers = resolve(finder(db, config, environ=ENV), [linkedin("a1"), linkedin("a2"), linkedin("a3")])
        assert sum(a.found for a in answers) == 2
        [later] = resolve(finder(db, config, environ=ENV), [linkedin("a3")])
        assert not later.found
        assert len(pdl.received) == 2
    assert stats(db, "pdl").skipped == 2
    assert sum(row.cost for row in call_rows(db, "pdl")) == 5.0


@pytest.mark.parametrize("known", [True, False], ids=["hit", "miss"])
def test_two_workers_searching_one_person_cause_one_vendor_call(db: Database, known: bool) -> None:
    with running(FakePdl()) as pdl:
        if known:
            pdl.people["ada"] = [Phone("+33612345678")]
        pdl.behaviour.delay_s = 0.5
        start = threading.Barrier(2)
        answers: list[Answer] = []

        def worker() -> None:
            own = finder(db, vendor_config("pdl", pdl), environ=ENV)
            start.wait()
            answers.extend(resolve(own, [linkedin("ada")]))

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(pdl.received) == 1
    assert [a.number for a in answers] == (["+33612345678"] * 2 if known else [None, None])
    with db.read() as conn:
        assert repo.paid_twice(conn) == 0
    assert len(call_rows(db, "pdl")) == 1
