"""The rate limiter's Redis seam in one process: shared counts, failing open, limits back with Redis."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from tests.scaleout.support import start_private_redis
from tests.support.databases import require_redis
from tests.support.servers import free_port
from trova.api import service


def counter(name: str) -> float:
    return REGISTRY.get_sample_value(f"{name}_total") or 0.0


def prefix() -> str:
    return f"trova-test-{uuid.uuid4().hex}"


@pytest.mark.redis
def test_two_limiters_on_one_redis_share_the_count() -> None:
    url, shared = require_redis(), prefix()
    first = service.RateLimiter(3, 3600, url, key_prefix=shared)
    second = service.RateLimiter(3, 3600, url, key_prefix=shared)
    try:
        decisions = [limiter.hit("account:1").allowed for limiter in (first, second, first, second)]
        assert decisions == [True, True, True, False]
        assert second.hit("account:2").allowed
    finally:
        first.close()
        second.close()


@pytest.mark.redis
def test_a_dead_redis_fails_open_once_logged_and_limits_return_with_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    require_redis()
    port, now = free_port(), [0.0]
    limiter = service.RateLimiter(
        1, 3600, f"redis://127.0.0.1:{port}/0", key_prefix=prefix(), timeout_s=0.5, clock=lambda: now[0]
    )
    errors = counter("trova_rate_limit_storage_errors")
    unchecked = counter("trova_rate_limit_unchecked_requests")
    with caplog.at_level(logging.WARNING, logger="trova.api"):
        assert [limiter.hit("account:1").allowed for _ in range(4)] == [True] * 4
        assert counter("trova_rate_limit_storage_errors") - errors == 1, "later calls skip the dead storage"
        assert counter("trova_rate_limit_unchecked_requests") - unchecked == 4
        redis_server = start_private_redis(port, tmp_path)
        try:
            now[0] += service.STORAGE_RETRY_AFTER_S + 1
            assert [limiter.hit("account:1").allowed for _ in range(2)] == [True, False]
        finally:
            limiter.close()
            redis_server.kill()
            redis_server.wait(30)
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert "unavailable" in messages[0] and "is back" in messages[1]


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://:s3cret@cache:6379/0", "redis://:***@cache:6379/0"),
        ("rediss://trova:s3cret@cache:6380/1", "rediss://trova:***@cache:6380/1"),
    ],
)
def test_logged_storage_uris_hide_the_password(uri: str, shown: str) -> None:
    assert service.redacted_uri(uri) == shown
