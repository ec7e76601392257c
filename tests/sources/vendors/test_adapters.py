"""Each vendor kind against its loopback fake: hit, miss, bad key, out of credits, rate limits,
timeouts, malformed answers, and the request each vendor documents."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.sources.provider import running
from tests.sources.support import finder, health, resolve
from tests.sources.vendors.fakes import FAKES, FakeVendor, Phone
from tests.sources.vendors.support import ENV, call_rows, linkedin, vendor_config
from trova.settings import SourceConfig
from trova.sources import service
from trova.sources.config import parse_sources
from trova.store import Database, utcnow

ADA = linkedin("ada-lovelace")


@pytest.fixture(params=sorted(FAKES))
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def fake(kind: str) -> Iterator[FakeVendor]:
    with running(FAKES[kind]()) as server:
        yield server


def test_hit_is_found_billed_and_recorded(db: Database, kind: str, fake: FakeVendor) -> None:
    fake.people["ada-lovelace"] = [Phone("+33612345678")]
    [answer] = resolve(finder(db, vendor_config(kind, fake), environ=ENV), [ADA])
    assert (answer.number, answer.sources) == ("+33612345678", (kind,))
    [row] = call_rows(db, kind)
    assert (row.outcome, row.billed, row.cost, row.country) == ("found", True, 2.5, "FR")
    assert fake.billed == 1


def test_miss_is_free_remembered_and_not_asked_again(db: Database, kind: str, fake: FakeVendor) -> None:
    for _ in range(2):
        [answer] = resolve(finder(db, vendor_config(kind, fake), environ=ENV), [ADA])
        assert not answer.found
    assert len(fake.received) == 1
    [row] = call_rows(db, kind)
    assert (row.outcome, row.billed, row.cost) == ("no_match", False, 0.0)


def test_bad_key_disables_the_source_with_its_reason(db: Database, kind: str, fake: FakeVendor) -> None:
    fake.people["ada-lovelace"] = [Phone("+33612345678")]
    for _ in range(2):
        [answer] = resolve(finder(db, vendor_config(kind, fake), environ={"VENDOR_KEY": "wrong"}), [ADA])
        assert not answer.found
    assert len(fake.received) == 1
    state = health(db, kind)
    assert state is not None and state.disabled_at is not None and state.disabled_reason
    specs = parse_sources([SourceConfig(**vendor_config(kind, fake))])
    with db.read() as conn:
        view = next(v for v in service.list_sources(conn, specs, utcnow(), ENV) if v.name == kind)
    assert view.health == "disabled" and view.detail == state.disabled_reason
    assert call_rows(db, kind)[0].outcome == "bad_key"


def test_out_of_credits_exhausts_the_source(db: Database, kind: str, fake: FakeVendor) -> None:
    fake.people["ada-lovelace"] = [Phone("+33612345678")]
    fake.credits = 0
    [answer] = resolve(finder(db, vendor_config(kind, fake), environ=ENV), [ADA])
    assert not answer.found
    state = health(db, kind)
    assert state is not None and state.exhausted_at is not None
    [row] = call_rows(db, kind)
    assert (row.outcome, row.billed) == ("no_credits", False)


def test_rate_limit_beyond_the_allowance_backs_off_for_retry_after(
    db: Database, kind: str, fake: FakeVendor
) -> None:
    fake.behaviour.status = 429
    fake.behaviour.retry_after = "120"
    before = utcnow()
    [answer] = resolve(finder(db, vendor_config(kind, fake, max_retry_after_s=30), environ=ENV), [ADA])
    assert not answer.found
    state = health(db, kind)
    assert state is not None and state.backoff_until is not None
    assert (state.backoff_until - before).total_seconds() >= 119
    assert [row.outcome for row in call_rows(db, kind)] == ["rate_limited"]


def test_short_rate_limit_is_waited_out_and_the_request_retried(
    db: Database, kind: str, fake: FakeVendor
) -> None:
    fake.people["ada-lovelace"] = [Phone("+33612345678")]
    fake.throttle = 1
    [answer] = resolve(finder(db, vendor_config(kind, fake), environ=ENV), [ADA])
    assert answer.number == "+33612345678"
    assert [row.outcome for row in call_rows(db, kind)] == ["rate_limited", "found"]


def test_server_error_is_retried(db: Database, kind: str, fake: FakeVendor) -> None:
    fake.people["ada-lovelace"] = [Phone("+33612345678")]
    fake.behaviour.fail_first = 1
    [answer] = resolve(finder(db, vendor_config(kind, fake), environ=ENV), [ADA])
    assert answer.number == "+33612345678"
    assert [(row.outcome, row.billed) for row in call_rows(db, kind)] == [("error", False), ("found", True)]


def test_timeout_falls_through_unremembered(db: Database, kind: str, fake: FakeVendor) -> None:
    fake.people["ada-lovelace"] = [Phone("+33612345678")]
    fake.behaviour.delay_s = 1.0
    config = vendor_config(kind, fake, timeout_s=0.2, retries=0)
    [answer] = resolve(finder(db, config, environ=ENV), [ADA])
    assert not answer.found
    assert [row.outcome for row in call_rows(db, kind)] == ["timeout"]
    fake.behaviour.delay_s = 0
    [answer] = resolve(finder(db, config, environ=ENV), [ADA])
    assert answer.number == "+33612345678"


def test_malformed_answer_is_an_error_not_a_miss(db: Database, kind: str, fake: FakeVendor) -> None:
    fake.people["ada-lovelace"] = [Phone("+33612345678")]
    fake.malformed = True
    [answer] = resolve(finder(db, vendor_config(kind, fake), environ=ENV), [ADA])
    assert not answer.found
    assert [row.outcome for row in call_rows(db, kind)] == ["malformed"]
    state = health(db, kind)
    assert state is not None and state.consecutive_failures == 1


def test_prospeo_masked_mobile_is_not_a_find(db: Database) -> None:
    with running(FAKES["prospeo"]()) as fake:
        fake.people["ada-lovelace"] = [Phone("+33612345678", masked=True)]
        [answer] = resolve(finder(db, vendor_config("prospeo", fake), environ=ENV), [ADA])
    assert not answer.found
    [row] = call_rows(db, "prospeo")
    assert (row.outcome, row.billed, row.cost) == ("masked", False, 0.0)


NAMES = {"first_name": "Ada", "last_name": "Lovelace", "company_domain": "acme.com"}


def test_pdl_request_as_documented(db: Database) -> None:
    with running(FAKES["pdl"]()) as fake:
        resolve(finder(db, vendor_config("pdl", fake, min_likelihood=7), environ=ENV), [NAMES])
    [request] = fake.received
    assert (request.method, request.path) == ("GET", "/v5/person/enrich")
    assert request.query == {
        "first_name": ["ada"],
        "last_name": ["lovelace"],
        "company": ["acme.com"],
        "min_likelihood": ["7"],
        "required": ["phone_numbers"],
    }


def test_prospeo_request_as_documented(db: Database) -> None:
    with running(FAKES["prospeo"]()) as fake:
        resolve(finder(db, vendor_config("prospeo", fake), environ=ENV), [NAMES])
    [request] = fake.received
    assert (request.method, request.path) == ("POST", "/enrich-person")
    assert request.body == {
        "enrich_mobile": True,
        "only_verified_mobile": True,
        "data": {"first_name": "ada", "last_name": "lovelace", "company_website": "acme.com"},
    }


def test_lusha_request_as_documented(db: Database) -> None:
    with running(FAKES["lusha"]()) as fake:
        resolve(finder(db, vendor_config("lusha", fake), environ=ENV), [NAMES])
    [request] = fake.received
    assert (request.method, request.path) == ("GET", "/v2/person")
    assert request.query == {"firstName": ["ada"], "lastName": ["lovelace"], "companyDomain": ["acme.com"]}


def test_kaspr_asks_by_profile_only(db: Database) -> None:
    with running(FAKES["kaspr"]()) as fake:
        resolve(finder(db, vendor_config("kaspr", fake), environ=ENV), [NAMES, ADA])
    [request] = fake.received
    assert (request.method, request.path) == ("POST", "/profile/linkedin")
    assert request.body == {
        "id": "ada-lovelace",
        "name": "ada-lovelace",
        "dataToGet": ["phone"],
        "requiredData": ["phone"],
    }
    assert call_rows(db, "kaspr")[0].outcome == "no_match"


def test_kaspr_profile_without_a_phone_is_a_free_miss_and_spaced_numbers_are_read(db: Database) -> None:
    with running(FAKES["kaspr"]()) as fake:
        fake.people["nophone"] = []
        fake.people["ada"] = [Phone("+33612345678")]
        config = vendor_config("kaspr", fake)
        answers = resolve(finder(db, config, environ=ENV), [linkedin("nophone"), linkedin("ada")])
    assert [a.number for a in answers] == [None, "+33612345678"]
    assert fake.billed == 1
    assert [(r.outcome, r.billed) for r in call_rows(db, "kaspr")] == [("no_match", False), ("found", True)]
