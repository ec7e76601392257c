"""Several API processes on one database: exact credits under concurrent POSTs, a POST limit shared
through Redis, and the API still serving (and counting the failures) when Redis goes away."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from tests.scaleout.support import PRICE, deployment, post_concurrently, profile, rows, start_private_redis
from tests.support.databases import require_redis
from tests.support.servers import free_port


def single(i: int) -> dict[str, str]:
    return {"linkedin_url": profile(i)}


@pytest.mark.slow
def test_two_api_processes_with_20_concurrent_posts_accept_exactly_what_the_balance_covers(
    db_url: str, tmp_path: Path
) -> None:
    with deployment(db_url, tmp_path) as d:
        key = d.account("acme", 10 * PRICE)
        first, second = d.api(), d.api()
        requests = [((first, second)[i % 2].base_url, "/phone/single", single(i)) for i in range(20)]
        responses = post_concurrently(requests, key, threads=20)
        codes = sorted(response.status_code for response in responses)
        unexpected = [r.text for r in responses if r.status_code not in (201, 402)]
        assert codes == [201] * 10 + [402] * 10, unexpected
        assert all(r.json() == {"message": "Insufficient credits"} for r in responses if r.status_code == 402)
        engine = d.engine()
        reserves = rows(
            engine, "SELECT count(*), sum(sub_delta) FROM ledger_entries WHERE kind = 'reserve'"
        )[0]
        assert tuple(reserves) == (10, -10 * PRICE)
        assert rows(engine, "SELECT sub_credits, paygo_credits FROM accounts")[0] == (0, 0)
        assert rows(engine, "SELECT count(*) FROM batches")[0][0] == 10


def limited_env(redis_url: str, per_window: int) -> dict[str, str]:
    """A window far longer than the test, so no count can expire while it runs (no timing)."""
    return {
        "TROVA_REDIS_URL": redis_url,
        "TROVA_REDIS_KEY_PREFIX": f"trova-test-{uuid.uuid4().hex}",
        "TROVA_RATE_LIMIT_POST_PER_S": str(per_window),
        "TROVA_RATE_LIMIT_WINDOW_S": "3600",
    }


@pytest.mark.redis
@pytest.mark.slow
def test_the_post_limit_holds_across_two_api_processes_with_redis(sqlite_url: str, tmp_path: Path) -> None:
    redis_url = require_redis()
    with deployment(sqlite_url, tmp_path, **limited_env(redis_url, 10)) as d:
        key = d.account("acme", 100 * PRICE)
        servers = (d.api(), d.api())
        codes = []
        for i in range(30):
            response = httpx.post(
                f"{servers[i % 2].base_url}/phone/single", json=single(i), headers={"x-api-key": key}
            )
            codes.append(response.status_code)
        assert codes.count(201) == 10 and codes.count(429) == 20, codes
        assert codes[:10] == [201] * 10, "the 10 first POSTs, five on each process, are accepted"


def metric(base_url: str, name: str) -> float:
    for line in httpx.get(f"{base_url}/metrics").text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    return 0.0


@pytest.mark.redis
@pytest.mark.slow
def test_with_redis_stopped_posts_are_still_served_and_the_failure_is_counted(
    sqlite_url: str, tmp_path: Path
) -> None:
    require_redis()
    port = free_port()
    private = start_private_redis(port, tmp_path)
    try:
        with deployment(sqlite_url, tmp_path, **limited_env(f"redis://127.0.0.1:{port}/0", 2)) as d:
            key = d.account("acme", 100 * PRICE)
            api = d.api()
            url, headers = f"{api.base_url}/phone/single", {"x-api-key": key}
            before = [httpx.post(url, json=single(i), headers=headers).status_code for i in range(3)]
            assert before == [201, 201, 429], "Redis enforces the limit while it is up"
            private.kill()
            private.wait(30)
            after = [httpx.post(url, json=single(i), headers=headers) for i in range(3, 8)]
            assert [r.status_code for r in after] == [201] * 5, [r.text for r in after]
            assert metric(api.base_url, "trova_rate_limit_storage_errors_total") >= 1
            assert metric(api.base_url, "trova_rate_limit_unchecked_requests_total") == 5
    finally:
        if private.poll() is None:
            private.kill()
            private.wait(30)
