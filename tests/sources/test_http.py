"""The ``http`` kind against a real JSON provider on loopback: templates, JSON paths, pacing, failures."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.finder.builder import StoreBuilder
from tests.sources.provider import Behaviour, JsonProvider, running
from tests.sources.support import finder, health, resolve, stats
from trova.sources.http import pacer_for
from trova.store import Database

SECRET = "s3cr3t-Key-0042"


@pytest.fixture
def provider() -> Iterator[JsonProvider]:
    with running(JsonProvider()) as server:
        yield server


def get_source(provider: JsonProvider, **extra: Any) -> dict[str, Any]:
    return {
        "name": "people-api",
        "kind": "http",
        "url": provider.url + "/v1/person?first={first_name}&last={last_name}&domain={company_domain}"
        "&key=${PEOPLE_KEY}",
        "headers": {"Authorization": "Bearer ${PEOPLE_KEY}", "X-Client": "trova"},
        "numbers_path": "$.data.phones[*].number",
        "type_path": "data.phones[*].kind",
        "date_path": "data.phones[*].seen",
        "default_country": "FR",
        "timeout_s": 5,
        **extra,
    }


def post_source(provider: JsonProvider, **extra: Any) -> dict[str, Any]:
    return get_source(
        provider,
        method="POST",
        url=provider.url + "/v1/person",
        body={
            "person": {
                "first_name": "{first_name}",
                "last_name": "{last_name}",
                "profile": "{linkedin_url}",
                "note": "at {company_domain}",
            },
            "tag": 7,
        },
        **extra,
    )


ENV = {"PEOPLE_KEY": SECRET}


def person(last: str, first: str = "Ana", domain: str = "acme.com") -> dict[str, str]:
    return {"first_name": first, "last_name": last, "company_domain": domain}


def test_get_template_rendered_and_json_path_followed(db: Database, provider: JsonProvider) -> None:
    provider.people["garcia"] = [
        {"number": "01 42 68 53 00", "kind": "office", "seen": "2026-01-02"},
        {"number": "06 12 34 56 78", "kind": "mobile", "seen": "2026-03-04T10:00:00Z"},
    ]
    answers = resolve(finder(db, get_source(provider), environ=ENV), [person("García", "Ána María")])
    assert answers[0].number == "+33612345678"
    assert answers[0].line_type == "mobile"
    assert answers[0].sources == ("people-api",)
    assert answers[0].last_seen is not None and answers[0].last_seen.isoformat() == "2026-03-04"
    [request] = provider.received
    assert request.method == "GET" and request.path == "/v1/person"
    assert request.query == {
        "first": ["ana maria"],
        "last": ["garcia"],
        "domain": ["acme.com"],
        "key": [SECRET],
    }
    assert request.headers["Authorization"] == f"Bearer {SECRET}"
    assert request.headers["X-Client"] == "trova"


def test_post_body_template_and_missing_fields(db: Database, provider: JsonProvider) -> None:
    provider.people["roe"] = [{"number": "+33 6 98 76 54 32"}]
    answers = resolve(
        finder(db, post_source(provider), environ=ENV), [person("Roe", "Jo", "https://www.acme.co.uk/x")]
    )
    assert answers[0].number == "+33698765432"
    [request] = provider.received
    assert request.method == "POST"
    assert request.body == {
        "person": {"first_name": "jo", "last_name": "roe", "profile": None, "note": "at acme.co.uk"},
        "tag": 7,
    }


def test_upstream_answer_is_kept_and_answered_locally_next_time(db: Database, provider: JsonProvider) -> None:
    provider.people["kept"] = [{"number": "0612345678"}]
    first = resolve(finder(db, get_source(provider), environ=ENV), [person("Kept")])[0]
    assert first.found and first.person_key is not None
    provider.people.clear()
    again = resolve(finder(db, get_source(provider), environ=ENV), [person("Kept")])[0]
    assert (again.number, again.person_key, again.sources) == (
        first.number,
        first.person_key,
        ("people-api",),
    )
    assert len(provider.received) == 1
    assert stats(db, "people-api").hits == 1


def test_miss_is_remembered_and_not_asked_again(db: Database, provider: JsonProvider) -> None:
    searches = [person("Nobody")]
    assert not resolve(finder(db, get_source(provider), environ=ENV), searches)[0].found
    assert not resolve(finder(db, get_source(provider), environ=ENV), searches)[0].found
    assert len(provider.received) == 1
    counted = stats(db, "people-api")
    assert (counted.misses, counted.cached_misses, counted.requests) == (1, 1, 1)


def test_zero_ttl_asks_every_time(db: Database, provider: JsonProvider) -> None:
    source = get_source(provider, negative_ttl_days=0)
    for _ in range(2):
        resolve(finder(db, source, environ=ENV), [person("Nobody")])
    assert len(provider.received) == 2


def test_local_answers_first_and_upstream_only_for_the_rest(db: Database, provider: JsonProvider) -> None:
    store = StoreBuilder(db)
    acme = store.company("Acme", domains=("acme.com",))
    store.person("Ana", "Local", at=(acme,), phones=("+33611111111",))
    provider.people["remote"] = [{"number": "0622222222"}]
    answers = resolve(finder(db, get_source(provider), environ=ENV), [person("Local"), person("Remote")])
    assert [a.number for a in answers] == ["+33611111111", "+33622222222"]
    assert [a.sources for a in answers] == [("crm",), ("people-api",)]
    assert [r.query["last"] for r in provider.received] == [["remote"]]


def test_invalid_and_toll_free_numbers_are_not_returned(db: Database, provider: JsonProvider) -> None:
    provider.people["toll"] = [{"number": "+33 800 12 34 56"}]
    provider.people["bad"] = [{"number": "+33 1 23"}, {"number": "not a number"}]
    provider.people["fax"] = [{"number": "+33 1 42 68 53 00", "kind": "fax"}]
    answers = resolve(
        finder(db, get_source(provider), environ=ENV), [person("Toll"), person("Bad"), person("Fax")]
    )
    assert [a.found for a in answers] == [False, False, False]
    counted = stats(db, "people-api")
    assert (counted.hits, counted.rejected, counted.misses) == (0, 3, 3)


def test_rate_limit_spaces_requests(
    db: Database, provider: JsonProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    rate = 20.0
    pacer = pacer_for("people-api", rate)  # the process-wide pacer the source will use
    asked: list[float] = []
    started: list[float] = []
    wait_turn = pacer.wait_turn

    def timed_turn(deadline: float) -> bool:
        asked.append(time.monotonic())
        granted = wait_turn(deadline)
        started.append(time.monotonic())
        return granted

    monkeypatch.setattr(pacer, "wait_turn", timed_turn)
    searches = [person(f"P{i}") for i in range(12)]
    resolve(finder(db, get_source(provider, rate_limit_per_s=rate, concurrency=8), environ=ENV), searches)
    assert len(provider.received) == len(started) == 12
    # The pacer's first slot is no earlier than the first request asked for one, and each further
    # slot comes 1/rate after the one before; a request starts no earlier than its slot. Measured in
    # the sending threads, a loaded machine (or a provider slow to accept) can only widen the span.
    # Unpaced, eight requests at once would start within a few milliseconds.
    assert max(started) - min(asked) >= (len(started) - 1) / rate - 1e-6


def test_concurrency_is_bounded(db: Database, provider: JsonProvider) -> None:
    provider.behaviour = Behaviour(delay_s=0.15)
    searches = [person(f"C{i}") for i in range(10)]
    resolve(finder(db, get_source(provider, concurrency=3), environ=ENV), searches)
    assert len(provider.received) == 10
    assert 1 <= provider.state.max_in_flight <= 3


def test_5xx_is_retried(db: Database, provider: JsonProvider) -> None:
    provider.people["flaky"] = [{"number": "0633333333"}]
    provider.behaviour = Behaviour(fail_first=2)
    source = get_source(provider, retries=2, backoff_base_s=0.01)
    assert resolve(finder(db, source, environ=ENV), [person("Flaky")])[0].number == "+33633333333"
    assert len(provider.received) == 3


def test_402_marks_the_source_exhausted_and_it_is_skipped(db: Database, provider: JsonProvider) -> None:
    provider.behaviour = Behaviour(status=402)
    source = get_source(provider, concurrency=1)
    answers = resolve(finder(db, source, environ=ENV), [person("A"), person("B")])
    assert not any(a.found for a in answers)
    state = health(db, "people-api")
    assert state is not None and state.exhausted_at is not None
    sent = len(provider.received)
    assert sent == 1
    resolve(finder(db, source, environ=ENV), [person("C")])
    assert len(provider.received) == sent
    assert stats(db, "people-api").skipped == 1
    assert stats(db, "people-api").misses == 0


def test_429_backs_off_for_its_retry_after(db: Database, provider: JsonProvider) -> None:
    provider.behaviour = Behaviour(status=429, retry_after="120")
    source = get_source(provider, max_retry_after_s=5, concurrency=1)
    assert not resolve(finder(db, source, environ=ENV), [person("A")])[0].found
    state = health(db, "people-api")
    assert state is not None and state.backoff_until is not None and state.last_error == "429 from provider"
    resolve(finder(db, source, environ=ENV), [person("B")])
    assert len(provider.received) == 1
    counted = stats(db, "people-api")
    assert (counted.skipped, counted.fell_through, counted.misses) == (1, 1, 0)


def test_deadline_lets_pending_searches_fall_through(db: Database, provider: JsonProvider) -> None:
    provider.behaviour = Behaviour(delay_s=1.0)
    source = get_source(provider, deadline_s=0.5, timeout_s=0.3, retries=0, concurrency=2)
    answers = resolve(finder(db, source, environ=ENV), [person(f"S{i}") for i in range(6)])
    assert not any(a.found for a in answers)
    counted = stats(db, "people-api")
    assert counted.fell_through == 6 and counted.misses == 0


def test_unreachable_provider_opens_the_circuit(db: Database) -> None:
    source = {
        "name": "down",
        "kind": "http",
        "url": "http://127.0.0.1:9/v1?last={last_name}",
        "numbers_path": "phones[*]",
        "retries": 1,
        "backoff_base_s": 0.01,
        "circuit_failures": 2,
        "circuit_open_s": 600,
    }
    for _ in range(3):
        assert not resolve(finder(db, source), [person("A")])[0].found
    counted = stats(db, "down")
    assert counted.errors == 4 and counted.fell_through == 2 and counted.skipped == 1
    state = health(db, "down")
    assert state is not None and state.open_until is not None and state.consecutive_failures == 2


def test_ambiguous_names_are_not_paid_for_upstream(db: Database, provider: JsonProvider) -> None:
    store = StoreBuilder(db)
    acme = store.company("Acme", domains=("acme.com",))
    store.person("Ana", "Twin", at=(acme,), linkedin="linkedin.com/in/twin-1", phones=("+33611111111",))
    store.person("Ana", "Twin", at=(acme,), linkedin="linkedin.com/in/twin-2", phones=("+33622222222",))
    provider.people["twin"] = [{"number": "0633333333"}]
    by_profile = {**person("Twin"), "linkedin_url": "linkedin.com/in/twin-3"}
    answers = resolve(finder(db, get_source(provider), environ=ENV), [person("Twin"), by_profile])
    assert [a.number for a in answers] == [None, "+33633333333"]
    assert len(provider.received) == 1


def test_local_source_reports_the_store_observations(db: Database) -> None:
    from trova.people.normalise import search_from_params
    from trova.sources.local import LocalSource

    store = StoreBuilder(db)
    acme = store.company("Acme", domains=("acme.com",))
    store.person("Ana", "Here", at=(acme,), phones=("+33611111111", "+33142685300"))
    here, gone = search_from_params(person("Here")), search_from_params(person("Gone"))
    lookup = LocalSource(db).lookup_many([here, gone], deadline=float("inf"))
    assert sorted(o.e164 or "" for o in lookup.found[here]) == ["+33142685300", "+33611111111"]
    assert lookup.missed == frozenset({gone})
