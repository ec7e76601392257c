"""Concurrency of reservations, the POST rate limit and Idempotency-Key, against a real server."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator

import httpx
import pytest

from tests.api.conftest import Api, start_api
from trova.accounts import service as accounts
from trova.accounts.models import Split
from trova.store import Database

ADA = {"linkedin_url": "https://www.linkedin.com/in/ada-lovelace"}


def ledger_and_balance(api: Api, name: str) -> tuple[Split, Split]:
    db = Database(api.url)
    try:
        with db.read() as conn:
            account = accounts.find_account(conn, name)
            assert account is not None
            return accounts.ledger_balance(conn, account.id), Split(
                account.sub_credits, account.paygo_credits
            )
    finally:
        db.dispose()


def test_30_concurrent_bulks_against_a_balance_for_10(api: Api) -> None:
    key = api.account("racer", "--credits", str(10 * 3 * 40 - 60), "--paygo", "60")
    body = {"searches": [ADA, ADA, ADA]}

    def submit(_: int) -> httpx.Response:
        with api.client(key) as client:
            return client.post("/phone/bulk", json=body)

    with concurrent.futures.ThreadPoolExecutor(max_workers=30) as pool:
        responses = list(pool.map(submit, range(30)))
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] * 10 + [402] * 20
    assert all(r.json() == {"message": "Insufficient credits"} for r in responses if r.status_code == 402)
    with api.client(key) as client:
        assert client.get("/account/info").json() == {
            "credits": 0,
            "webhooks": [],
            "credits_detail": {"sub": 0, "paygo": 0},
        }
    ledger, balance = ledger_and_balance(api, "racer")
    assert ledger == balance == Split(0, 0)
    api.work()
    ledger, balance = ledger_and_balance(api, "racer")
    assert ledger == balance == Split(1140, 60)


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """10 POSTs per key in any 60-second window: the count is exact however slow the machine is."""
    instance = start_api(
        tmp_path_factory.mktemp("limited"),
        {"TROVA_RATE_LIMIT_POST_PER_S": "10", "TROVA_RATE_LIMIT_WINDOW_S": "60"},
    )
    yield instance
    instance.server.stop()


def test_25_posts_let_10_through_and_the_rest_carry_both_headers(limited: Api) -> None:
    key = limited.account("burst", "--credits", "100000")
    other = limited.account("calm", "--credits", "100000")
    with limited.client(key) as client:
        responses = [
            client.post(
                "/phone/single" if i % 2 else "/phone/bulk", json=ADA if i % 2 else {"searches": [ADA]}
            )
            for i in range(25)
        ]
        gets = [client.get("/account/info") for _ in range(15)]
    assert [r.status_code for r in responses] == [201] * 10 + [429] * 15
    for refused in responses[10:]:
        assert refused.json() == {"message": "Rate limit exceeded"}
        retry_after = int(refused.headers["Retry-After"])
        assert 1 <= retry_after <= 60
        assert refused.headers["X-RateLimit-Reset"] == str(retry_after)
    assert {r.status_code for r in gets} == {200}
    assert gets[-1].json()["credits"] == 100000 - 10 * 40
    with limited.client(other) as client:
        assert client.post("/phone/single", json=ADA).status_code == 201


def test_idempotency_key_replays_and_conflicts(api: Api) -> None:
    key = api.account("idem", "--credits", "1000")
    with api.client(key) as client:
        first = client.post("/phone/bulk", json={"searches": [ADA, ADA]}, headers={"Idempotency-Key": "k-1"})
        again = client.post("/phone/bulk", json={"searches": [ADA, ADA]}, headers={"Idempotency-Key": "k-1"})
        other_body = client.post("/phone/bulk", json={"searches": [ADA]}, headers={"Idempotency-Key": "k-1"})
        other_path = client.post(
            "/phone/single", json={"searches": [ADA, ADA]}, headers={"Idempotency-Key": "k-1"}
        )
        single = client.post("/phone/single", json=ADA, headers={"Idempotency-Key": "k-2"})
        single_again = client.post("/phone/single", json=ADA, headers={"Idempotency-Key": "k-2"})
        info = client.get("/account/info").json()
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert other_body.status_code == 409 and set(other_body.json()) == {"message"}
    assert other_path.status_code in (400, 409)
    assert single_again.json() == single.json() and single_again.status_code == 201
    assert info["credits"] == 1000 - 80 - 40
    other_account = api.account("idem-2", "--credits", "1000")
    with api.client(other_account) as client:
        own = client.post("/phone/bulk", json={"searches": [ADA, ADA]}, headers={"Idempotency-Key": "k-1"})
    assert own.status_code == 201 and own.json()["id"] != first.json()["id"]


def test_concurrent_requests_with_one_idempotency_key_create_one_batch(api: Api) -> None:
    key = api.account("idem-race", "--credits", "10000")

    def submit(_: int) -> httpx.Response:
        with api.client(key) as client:
            return client.post("/phone/bulk", json={"searches": [ADA]}, headers={"Idempotency-Key": "same"})

    with concurrent.futures.ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(submit, range(10)))
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    with api.client(key) as client:
        assert client.get("/account/info").json()["credits"] == 10000 - 40
