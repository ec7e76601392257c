"""The per-address limit on missing and wrong keys (issue 17, protections): ``TROVA_RATE_LIMIT_UNAUTH_PER_S``
on a real server, in memory and shared through a real Redis by two servers."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import Api, start_api
from tests.support.databases import require_redis

LIMIT = 3
WRONG = {"x-api-key": "trova_" + "x" * 43}
ADA = {"linkedin_url": "https://www.linkedin.com/in/ada-lovelace"}


def assert_refused(answer: httpx.Response) -> None:
    assert (answer.status_code, answer.json()) == (429, {"message": "Rate limit exceeded"})
    assert int(answer.headers["retry-after"]) >= 1


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[Api]:
    api = start_api(tmp_path, {"TROVA_RATE_LIMIT_UNAUTH_PER_S": str(LIMIT)})
    yield api
    api.server.stop()


def test_wrong_keys_past_the_limit_get_429_and_block_the_address_for_its_window(limited: Api) -> None:
    key = limited.account("honest", "--credits", "100")
    with httpx.Client(base_url=limited.server.base_url, timeout=30) as client:
        honest = [client.get("/account/info", headers={"x-api-key": key}) for _ in range(LIMIT * 3)]
        assert {answer.status_code for answer in honest} == {200}, "valid keys are never counted"
        searched = client.post("/phone/single", headers={"x-api-key": key}, json=ADA)
        assert searched.status_code == 201, "it puts the key in the cache: the next POST is answered from it"
        failures = [client.get("/account/info", headers=WRONG) for _ in range(LIMIT)]
        failures.append(client.post("/phone/single", json={}))
        assert [answer.status_code for answer in failures[:LIMIT]] == [401] * LIMIT
        assert_refused(failures[LIMIT])
        blocked = client.get("/account/info", headers={"x-api-key": key})
        assert_refused(blocked)
        assert_refused(client.post("/phone/single", headers={"x-api-key": key}, json=ADA))
        time.sleep(int(blocked.headers["retry-after"]) + 0.1)
        assert client.get("/account/info", headers={"x-api-key": key}).status_code == 200


@pytest.mark.redis
def test_two_servers_on_one_redis_share_the_count(tmp_path: Path) -> None:
    env = {
        "TROVA_RATE_LIMIT_UNAUTH_PER_S": str(LIMIT),
        "TROVA_REDIS_URL": require_redis(),
        "TROVA_REDIS_KEY_PREFIX": f"trova-test-{uuid.uuid4().hex}",
    }
    first = start_api(tmp_path, env)
    second = start_api(tmp_path, env, url=first.url)
    try:
        with httpx.Client(timeout=30) as client:
            answers = [
                client.get(f"{server.server.base_url}/account/info", headers=WRONG)
                for server in (first, second, first, second)
            ]
    finally:
        first.server.stop()
        second.server.stop()
    assert [answer.status_code for answer in answers[:LIMIT]] == [401] * LIMIT
    assert_refused(answers[LIMIT])
