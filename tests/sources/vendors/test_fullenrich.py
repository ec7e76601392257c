"""FullEnrich (``kind = "fullenrich"``) against a loopback fake of its API v2 contract: submitted in
bulk, polled with backoff, collected after a restart when it outlived the step's deadline."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.sources.provider import running
from tests.sources.support import finder, health, resolve, stats
from tests.sources.vendors.fakes import FakeFullEnrich, Phone
from tests.sources.vendors.support import ENV, call_rows, linkedin, vendor_config
from trova.sources import repository as repo
from trova.store import Database
from trova.store.tables import source_batches


@pytest.fixture
def fake() -> Iterator[FakeFullEnrich]:
    with running(FakeFullEnrich()) as server:
        yield server


def config(fake: FakeFullEnrich, **extra: Any) -> dict[str, Any]:
    options = {"price": 10, "poll_interval_s": 0.01, "poll_max_s": 0.05, "deadline_s": 10, **extra}
    return vendor_config("fullenrich", fake, **options)


def named(last: str) -> dict[str, str]:
    return {"first_name": "Ada", "last_name": last, "company_domain": "acme.fr"}


def test_hit_and_miss_in_one_bulk_request_as_documented(db: Database, fake: FakeFullEnrich) -> None:
    fake.people["ada"] = [Phone("+33612345678")]
    answers = resolve(finder(db, config(fake), environ=ENV), [linkedin("ada"), named("nobody")])
    assert [(a.number, a.sources) for a in answers] == [("+33612345678", ("fullenrich",)), (None, ())]
    posts = [r for r in fake.received if r.method == "POST"]
    assert len(posts) == 1 and posts[0].path == "/api/v2/contact/enrich/bulk"
    body = posts[0].body
    assert body["name"] and [c["enrich_fields"] for c in body["data"]] == [["contact.phones"]] * 2
    assert body["data"][0]["linkedin_url"] == "https://www.linkedin.com/in/ada"
    assert {k: body["data"][1][k] for k in ("first_name", "last_name", "domain")} == {
        "first_name": "ada",
        "last_name": "nobody",
        "domain": "acme.fr",
    }
    assert fake.polls == {"e-1": 2}
    rows = sorted((r.outcome, r.billed, r.cost, r.request_id) for r in call_rows(db, "fullenrich"))
    assert rows == [("found", True, 10.0, "e-1"), ("no_match", False, 0.0, "e-1")]
    resolve(finder(db, config(fake), environ=ENV), [named("nobody")])
    assert len([r for r in fake.received if r.method == "POST"]) == 1


def test_a_landline_is_found_but_not_billed(db: Database, fake: FakeFullEnrich) -> None:
    fake.people["desk"] = [Phone("+33142685300", kind="landline")]
    [answer] = resolve(finder(db, config(fake), environ=ENV), [named("desk")])
    assert answer.line_type == "fixed_line"
    assert [(r.outcome, r.billed) for r in call_rows(db)] == [("found", False)]


def test_bad_key_disables_the_source(db: Database, fake: FakeFullEnrich) -> None:
    fake.key = "another"
    [answer] = resolve(finder(db, config(fake), environ=ENV), [named("ada")])
    state = health(db, "fullenrich")
    assert not answer.found and state is not None and state.disabled_at is not None
    assert "error.api.key" in (state.disabled_reason or "")


def test_out_of_credits_keeps_what_was_found_and_exhausts(db: Database, fake: FakeFullEnrich) -> None:
    fake.people["ada"] = [Phone("+33612345678")]
    fake.people["bob"] = [Phone("+33698765432")]
    fake.credits = 1
    answers = resolve(finder(db, config(fake), environ=ENV), [named("ada"), named("bob")])
    state = health(db, "fullenrich")
    assert [a.found for a in answers] == [True, False]
    assert state is not None and state.exhausted_at is not None
    assert stats(db, "fullenrich").misses == 0


def test_rate_limited_backs_off(db: Database, fake: FakeFullEnrich) -> None:
    fake.throttle = 1
    [answer] = resolve(finder(db, config(fake), environ=ENV), [named("ada")])
    state = health(db, "fullenrich")
    assert not answer.found and state is not None and state.backoff_until is not None


def test_malformed_answer_is_an_error_not_a_miss(db: Database, fake: FakeFullEnrich) -> None:
    fake.people["ada"] = [Phone("+33612345678")]
    fake.malformed = True
    [answer] = resolve(finder(db, config(fake), environ=ENV), [named("ada")])
    assert not answer.found and stats(db, "fullenrich").misses == 0
    assert (health(db, "fullenrich") or pytest.fail("no health")).last_error is not None


def test_restart_while_pending_collects_instead_of_paying_again(db: Database, fake: FakeFullEnrich) -> None:
    """The deadline passes while the enrichment runs (timeout): its id is a row; a new waterfall (a
    restarted worker) collects it rather than sending the search again, and pays once."""
    fake.people["ada"] = [Phone("+33612345678")]
    fake.never_finish = True
    [first] = resolve(finder(db, config(fake, deadline_s=0.5), environ=ENV), [named("ada")])
    with db.read() as conn:
        pending = [row.upstream_id for row in conn.execute(source_batches.select())]
    assert not first.found and pending == ["e-1"]
    [meanwhile] = resolve(finder(db, config(fake, deadline_s=0.5), environ=ENV), [named("ada")])
    assert not meanwhile.found and len(fake.enrichments) == 1
    fake.never_finish = False
    [later] = resolve(finder(db, config(fake), environ=ENV), [named("ada")])
    assert later.number == "+33612345678" and len(fake.enrichments) == 1
    with db.read() as conn:
        assert repo.open_batches(conn, "fullenrich") == []
        assert repo.paid_twice(conn) == 0
    assert [(r.outcome, r.billed) for r in call_rows(db)] == [("found", True)]
