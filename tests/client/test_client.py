"""The sync and async clients against a real ``trova serve`` subprocess."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client.support import PRICE, Deployment, contact, deployment
from trova.client import (
    ApiError,
    AsyncClient,
    AuthenticationError,
    Client,
    InsufficientCreditsError,
    NotFoundError,
    PhoneResult,
)

KNOWN = range(1, 41)


@pytest.fixture(scope="module")
def trova(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with deployment(tmp_path_factory.mktemp("client")) as dep:
        dep.import_contacts(KNOWN)
        yield dep


@pytest.fixture(scope="module")
def api_key(trova: Deployment) -> str:
    return trova.create_account("client-tests", 1_000_000)


@pytest.fixture
def client(trova: Deployment, api_key: str) -> Iterator[Client]:
    with Client(api_key, trova.base_url) as c:
        yield c


def test_single_search_by_linkedin_is_found_with_the_stored_number(client: Client) -> None:
    person = contact(3)
    submission = client.find({"linkedin_url": person.linkedin_url, "custom": "crm-3"})
    result = client.wait(submission.id, poll_interval_s=0.05)
    assert submission.credits_used == PRICE
    assert (result.qualification, result.number, result.country) == ("found", person.phone, "FR")
    assert result.line_type == "mobile"
    assert result.custom == "crm-3"
    assert result.id == submission.id
    assert client.get(submission.id) == result


def test_single_search_by_names_and_domain(client: Client) -> None:
    person = contact(4)
    result = client.find_and_wait(
        {
            "firstname": person.first_name.upper(),
            "lastname": person.last_name,
            "company_domain": f"https://www.{person.company_domain}/about",
        }
    )
    assert result.found and result.number == person.phone


def test_unknown_person_is_not_found_and_refunded(client: Client) -> None:
    before = client.account().credits
    result = client.find_and_wait({"linkedin_url": "linkedin.com/in/nobody-at-all"})
    assert result.qualification == "not_found"
    assert (result.number, result.country, result.found) == (None, None, False)
    assert client.account().credits == before


def test_bulk_submit_wait_and_iterate_in_index_order(client: Client) -> None:
    searches = [{"linkedin_url": contact(i).linkedin_url, "custom": i} for i in (5, 6)]
    searches.insert(1, {"first_name": "No", "last_name": "Body", "company_name": "Nowhere"})
    submission = client.submit_bulk(searches, custom={"run": "t1"})
    assert submission.credits_used == 3 * PRICE
    assert submission.estimated_duration_min is not None and submission.estimated_duration_min >= 1
    bulk = client.wait_bulk(submission.id, poll_interval_s=0.05)
    assert bulk.status == "completed" and bulk.custom == {"run": "t1"}
    assert (bulk.stats.requested, bulk.stats.finished, bulk.stats.found) == (3, 3, 2)
    assert bulk.stats.credits_cost == 2 * PRICE
    results = list(client.iter_bulk_results(submission.id))
    assert [r.index for r in results] == [0, 1, 2]
    assert [r.number for r in results] == [contact(5).phone, None, contact(6).phone]
    assert [r.custom for r in results] == [5, None, 6]


def test_account_info_shows_the_spendable_credits(trova: Deployment) -> None:
    key = trova.create_account("client-info", 1234)
    with Client(key, trova.base_url) as client:
        info = client.account()
    assert info.credits == 1234
    assert info.credits_sub == 1234 and info.credits_paygo == 0


def test_posting_twice_with_one_idempotency_key_creates_one_batch(trova: Deployment) -> None:
    key = trova.create_account("client-idem", 10_000)
    searches = [{"linkedin_url": contact(7).linkedin_url}]
    with Client(key, trova.base_url) as client:
        first = client.submit_bulk(searches, idempotency_key="k-1")
        again = client.submit_bulk(searches, idempotency_key="k-1")
        other = client.submit_bulk(searches)
    assert again.id == first.id
    assert other.id != first.id
    assert trova.batches_of("client-idem") == 2


def test_errors_carry_the_status_and_the_exact_message(trova: Deployment, client: Client) -> None:
    with Client("not-a-key", trova.base_url) as bad, pytest.raises(AuthenticationError) as auth:
        bad.account()
    assert (auth.value.status, auth.value.message) == (401, "This apikey is not valid")
    with pytest.raises(NotFoundError) as missing:
        client.get("00000000-0000-0000-0000-000000000000")
    assert missing.value.message == "Search not found"
    with pytest.raises(NotFoundError) as missing_bulk:
        client.get_bulk("00000000-0000-0000-0000-000000000000")
    assert missing_bulk.value.message == "Bulk search not found"
    with pytest.raises(ApiError) as invalid:
        client.submit_bulk([{"linkedin_url": contact(1).linkedin_url}, {"first_name": "Ann"}])
    assert (invalid.value.status, invalid.value.message) == (
        400,
        "Missing mandatory property on search n°2 of 2",
    )


def test_insufficient_credits(trova: Deployment) -> None:
    key = trova.create_account("client-poor", PRICE - 1)
    with Client(key, trova.base_url) as client, pytest.raises(InsufficientCreditsError) as poor:
        client.find({"linkedin_url": contact(1).linkedin_url})
    assert (poor.value.status, poor.value.message) == (402, "Insufficient credits")


def test_defaults_come_from_the_environment(
    trova: Deployment, api_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TROVA_API_KEY", api_key)
    monkeypatch.setenv("TROVA_BASE_URL", trova.base_url + "/")
    with Client() as client:
        assert client.config.base_url == trova.base_url
        assert client.account().credits > 0
    monkeypatch.delenv("TROVA_BASE_URL")
    assert Client().config.base_url == "http://127.0.0.1:8000"


def test_async_client_runs_20_concurrent_searches(trova: Deployment, api_key: str) -> None:
    people = [contact(i) for i in range(10, 30)]

    async def search_all() -> list[PhoneResult]:
        async with AsyncClient(api_key, trova.base_url) as client:
            return await asyncio.gather(
                *(client.find_and_wait({"linkedin_url": p.linkedin_url}) for p in people)
            )

    results = asyncio.run(search_all())
    assert [r.number for r in results] == [p.phone for p in people]
    assert len({r.id for r in results}) == 20


def test_async_client_bulk_and_account(trova: Deployment, api_key: str, tmp_path: Path) -> None:
    async def run() -> tuple[int, list[PhoneResult]]:
        async with AsyncClient(api_key, trova.base_url) as client:
            submission = await client.submit_bulk([{"linkedin_url": contact(31).linkedin_url}])
            results = [r async for r in client.iter_bulk_results(submission.id)]
            return (await client.account()).credits, results

    credits, results = asyncio.run(run())
    assert credits > 0
    assert [r.number for r in results] == [contact(31).phone]
