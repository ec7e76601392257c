"""The ``enrow`` kind against a second, real ``trova serve`` (own SQLite file, own data imported with
``trova import``, own account), and against a fake Enrow for the failures a Trova does not produce."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.client.support import Deployment, contact
from tests.finder.builder import StoreBuilder
from tests.sources.provider import Behaviour, FakeEnrow, running
from tests.sources.support import finder, health, resolve, stats
from trova.client import Client
from trova.store import Database, tables
from trova.store.migrate import upgrade

_accounts = itertools.count(1)


@dataclass(frozen=True)
class UpstreamAccount:
    name: str
    key: str


@pytest.fixture
def upstream_account(upstream: Deployment) -> UpstreamAccount:
    name = f"downstream-{next(_accounts)}"
    return UpstreamAccount(name, upstream.create_account(name, credits=1_000_000))


def enrow_source(base_url: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "upstream",
        "kind": "enrow",
        "base_url": base_url,
        "api_key_env": "UPSTREAM_KEY",
        "poll_interval_s": 0.1,
        "timeout_s": 10,
        "deadline_s": 120,
        **extra,
    }


def by_linkedin(i: int) -> dict[str, str]:
    return {"linkedin_url": contact(i).linkedin_url}


def by_names(i: int) -> dict[str, str]:
    person = contact(i)
    return {
        "first_name": person.first_name,
        "last_name": person.last_name,
        "company_name": person.company_name,
    }


def upstream_batches(upstream: Deployment, account: UpstreamAccount) -> list[int]:
    """The ``requested`` size of every bulk batch the upstream account made, oldest first."""
    engine = sa.create_engine(upstream.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(tables.batches.c.requested)
                .join(tables.accounts, tables.accounts.c.id == tables.batches.c.account_id)
                .where(tables.accounts.c.name == account.name)
                .order_by(tables.batches.c.created_at)
            )
            return [row.requested for row in rows]
    finally:
        engine.dispose()


def credits(upstream: Deployment, account: UpstreamAccount) -> int:
    with Client(account.key, upstream.base_url) as client:
        return client.account().credits


def test_people_only_upstream_knows_are_found_then_answered_locally(
    db: Database, upstream: Deployment, upstream_account: UpstreamAccount
) -> None:
    env = {"UPSTREAM_KEY": upstream_account.key}
    before = credits(upstream, upstream_account)
    first = resolve(finder(db, enrow_source(upstream.base_url), environ=env), [by_linkedin(7), by_names(8)])
    assert [a.number for a in first] == [contact(7).phone, contact(8).phone]
    assert [a.sources for a in first] == [("upstream",), ("upstream",)]
    # Kept under the identifiers the searches carried: the profile for 7, the names and company for 8.
    same_people = [
        {"linkedin_url": f"linkedin.com/in/lead-{7:05d}/details/"},
        {**by_names(8), "company_name": contact(8).company_name.upper()},
    ]
    again = resolve(finder(db, enrow_source(upstream.base_url), environ=env), same_people)
    assert [a.number for a in again] == [contact(7).phone, contact(8).phone]
    assert [a.person_key for a in again] == [a.person_key for a in first]
    assert upstream_batches(upstream, upstream_account) == [2]
    assert before - credits(upstream, upstream_account) == 2 * 40
    counted = stats(db, "upstream")
    assert (counted.requests, counted.hits, counted.credits_spent) == (1, 2, 80)


def test_only_what_the_local_store_lacks_goes_upstream(
    db: Database, upstream: Deployment, upstream_account: UpstreamAccount
) -> None:
    store = StoreBuilder(db)
    for i in (1, 2):
        person = contact(i)
        company = store.company(person.company_name, domains=(person.company_domain,))
        store.person(
            person.first_name,
            person.last_name,
            at=(company,),
            linkedin=person.linkedin_url,
            phones=("+33611223344",),
            country="FR",
        )
    searches = [by_linkedin(1), by_linkedin(2), by_linkedin(3), {"linkedin_url": "linkedin.com/in/nobody-x"}]
    answers = resolve(
        finder(db, enrow_source(upstream.base_url), environ={"UPSTREAM_KEY": upstream_account.key}), searches
    )
    assert [a.number for a in answers] == ["+33611223344", "+33611223344", contact(3).phone, None]
    assert upstream_batches(upstream, upstream_account) == [2]
    counted = stats(db, "upstream")
    assert (counted.searches, counted.hits, counted.misses) == (2, 1, 1)


@pytest.mark.slow
def test_3000_searches_make_one_bulk_call(
    sqlite_url: str, upstream: Deployment, upstream_account: UpstreamAccount
) -> None:
    """The call pattern does not depend on the dialect: SQLite only, for time."""
    db = Database(sqlite_url)
    upgrade(db)
    try:
        searches = [by_linkedin(i) for i in range(1, 3001)]
        env = {"UPSTREAM_KEY": upstream_account.key}
        answers = resolve(finder(db, enrow_source(upstream.base_url), environ=env), searches)
        assert sum(a.found for a in answers) == 3000
        assert upstream_batches(upstream, upstream_account) == [3000]
    finally:
        db.dispose()


def test_missing_api_key_is_an_authentication_error_not_a_crash(db: Database, upstream: Deployment) -> None:
    answers = resolve(
        finder(db, enrow_source(upstream.base_url), environ={"UPSTREAM_KEY": "wrong"}), [by_linkedin(9)]
    )
    assert not answers[0].found
    state = health(db, "upstream")
    assert state is not None and state.last_error == "POST /phone/bulk: HTTP 401"
    assert stats(db, "upstream").errors == 1


# --- a fake Enrow for the failures ------------------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeEnrow]:
    with running(FakeEnrow()) as server:
        yield server


def named(first: str) -> dict[str, str]:
    return {"first_name": first, "last_name": "Doe", "company_domain": "acme.com"}


ENV = {"UPSTREAM_KEY": "k"}


def test_toll_free_and_invalid_answers_are_not_returned(db: Database, fake: FakeEnrow) -> None:
    fake.numbers = {"toll": ("+18005550123", "US"), "bad": ("+1555", "US"), "good": ("+15705551234", "US")}
    answers = resolve(
        finder(db, enrow_source(fake.url), environ=ENV), [named("Toll"), named("Bad"), named("Good")]
    )
    assert [a.number for a in answers] == [None, None, "+15705551234"]
    counted = stats(db, "upstream")
    assert (counted.hits, counted.rejected, counted.credits_spent) == (1, 2, 120)


def test_402_marks_exhausted_and_later_chunks_skip_it(db: Database, fake: FakeEnrow) -> None:
    fake.behaviour = Behaviour(status=402)
    assert not resolve(finder(db, enrow_source(fake.url), environ=ENV), [named("A")])[0].found
    assert not resolve(finder(db, enrow_source(fake.url), environ=ENV), [named("B")])[0].found
    assert len(fake.received) == 1
    state = health(db, "upstream")
    assert state is not None and state.exhausted_at is not None
    counted = stats(db, "upstream")
    assert (counted.requests, counted.skipped, counted.fell_through) == (1, 1, 1)


def test_429_backs_off(db: Database, fake: FakeEnrow) -> None:
    fake.behaviour = Behaviour(status=429, retry_after="0")
    source = enrow_source(fake.url, retries=1, backoff_base_s=0.01)
    assert not resolve(finder(db, source, environ=ENV), [named("A")])[0].found
    assert len(fake.received) == 2
    state = health(db, "upstream")
    assert state is not None and state.backoff_until is not None


def test_unfinished_upstream_batch_falls_through_at_the_deadline(db: Database, fake: FakeEnrow) -> None:
    fake.never_finish = True
    fake.numbers = {"late": ("+15705551234", "US")}
    source = enrow_source(fake.url, deadline_s=2.0)
    assert not resolve(finder(db, source, environ=ENV), [named("Late")])[0].found
    polls = [r for r in fake.received if r.method == "GET"]
    assert len(polls) >= 1
    counted = stats(db, "upstream")
    assert (counted.fell_through, counted.misses) == (1, 0)
    state = health(db, "upstream")
    assert (
        state is not None
        and state.last_error is not None
        and "unfinished at the deadline" in state.last_error
    )


def test_5xx_post_is_retried(db: Database, fake: FakeEnrow) -> None:
    fake.numbers = {"ok": ("+15705551234", "US")}
    fake.behaviour = Behaviour(fail_first=1)
    source = enrow_source(fake.url, retries=2, backoff_base_s=0.01)
    assert resolve(finder(db, source, environ=ENV), [named("Ok")])[0].number == "+15705551234"


def test_results_are_matched_by_custom_index(db: Database, fake: FakeEnrow, tmp_path: Path) -> None:
    fake.numbers = {f"p{i}": (f"+1570555{1000 + i}", "US") for i in range(0, 10, 2)}
    searches = [named(f"P{i}") for i in range(10)]
    answers = resolve(finder(db, enrow_source(fake.url), environ=ENV), searches)
    assert [a.number for a in answers] == [f"+1570555{1000 + i}" if i % 2 == 0 else None for i in range(10)]
    [post] = [r for r in fake.received if r.method == "POST"]
    assert [s["custom"] for s in post.body["searches"]] == [str(i) for i in range(10)]


def test_a_batch_left_running_is_collected_later_not_bought_again(db: Database, fake: FakeEnrow) -> None:
    fake.never_finish = True
    fake.numbers = {"late": ("+15705551234", "US"), "later": ("+15705551235", "US")}
    source = enrow_source(fake.url, deadline_s=2.0)
    assert not resolve(finder(db, source, environ=ENV), [named("Late"), named("Later"), named("None")])[
        0
    ].found
    fake.never_finish = False
    answers = resolve(finder(db, source, environ=ENV), [named("Late"), named("None")])
    assert [a.number for a in answers] == ["+15705551234", None]
    assert [r.method for r in fake.received].count("POST") == 1
    counted = stats(db, "upstream")
    assert (counted.requests, counted.searches, counted.hits, counted.misses) == (1, 3, 2, 1)
    assert (counted.fell_through, counted.cached_misses, counted.credits_spent) == (3, 1, 80)
    assert resolve(finder(db, source, environ=ENV), [named("Later")])[0].number == "+15705551235"
    assert [r.method for r in fake.received].count("POST") == 1


def test_a_batch_left_running_too_long_is_given_up(db: Database, fake: FakeEnrow) -> None:
    fake.never_finish = True
    source = enrow_source(fake.url, deadline_s=1.5, collect_within_s=0)
    resolve(finder(db, source, environ=ENV), [named("A")])
    resolve(finder(db, source, environ=ENV), [named("A")])
    assert [r.method for r in fake.received].count("POST") == 2
