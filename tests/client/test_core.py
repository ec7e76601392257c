"""The decisions the two clients share: configuration, Retry-After, backoff and waiting."""

from __future__ import annotations

import email.utils
import time

import httpx
import pytest

from trova.client import RetryPolicy, WaitTimeout, retry_after_seconds
from trova.client._core import Poll, resolve_config


def test_retry_after_in_seconds_or_as_an_http_date() -> None:
    assert retry_after_seconds(httpx.Headers({"Retry-After": "3"})) == 3.0
    in_a_minute = email.utils.formatdate(time.time() + 60, usegmt=True)
    delay = retry_after_seconds(httpx.Headers({"Retry-After": in_a_minute}))
    assert delay is not None and 55 <= delay <= 60
    assert retry_after_seconds(httpx.Headers({"Retry-After": "soon"})) is None
    assert retry_after_seconds(httpx.Headers()) is None


def test_backoff_honours_retry_after_within_a_cap() -> None:
    policy = RetryPolicy(backoff_base_s=1.0, backoff_cap_s=8.0, max_retry_after_s=30.0)
    assert policy.delay_s(1, 2.5) == 2.5
    assert policy.delay_s(1, 3600.0) == 30.0
    assert all(0.0 <= policy.delay_s(attempt, None) <= min(8.0, 2.0**attempt) for attempt in range(1, 10))


def test_configuration_from_arguments_then_environment_then_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TROVA_API_KEY", raising=False)
    monkeypatch.delenv("TROVA_BASE_URL", raising=False)
    default = resolve_config(None, None, 30.0, None, None)
    assert (default.api_key, default.base_url) == (None, "http://127.0.0.1:8000")
    assert "x-api-key" not in default.headers
    monkeypatch.setenv("TROVA_API_KEY", "env-key")
    monkeypatch.setenv("TROVA_BASE_URL", "https://trova.example/")
    from_env = resolve_config(None, None, 30.0, None, None)
    assert (from_env.api_key, from_env.base_url) == ("env-key", "https://trova.example")
    assert from_env.headers["x-api-key"] == "env-key"
    explicit = resolve_config("arg-key", "https://api.enrow.io", 30.0, None, None)
    assert (explicit.api_key, explicit.base_url, explicit.retry_unsafe_posts) == (
        "arg-key",
        "https://api.enrow.io",
        False,
    )


def test_waiting_gives_up_after_its_timeout() -> None:
    poll = Poll(timeout_s=0.0, interval_s=1.0, max_interval_s=5.0, what="search s-1")
    with pytest.raises(WaitTimeout, match="search s-1 still running"):
        poll.next_delay_s()


def test_poll_interval_grows_to_its_maximum() -> None:
    poll = Poll(timeout_s=None, interval_s=1.0, max_interval_s=2.0, what="x")
    assert [poll.next_delay_s() for _ in range(4)] == [1.0, 1.5, 2.0, 2.0]


def test_x_rate_limit_reset_is_the_wait_when_retry_after_is_absent() -> None:
    assert retry_after_seconds(httpx.Headers({"X-RateLimit-Reset": "2"})) == 2.0
    assert retry_after_seconds(httpx.Headers({"Retry-After": "5", "X-RateLimit-Reset": "2"})) == 5.0
