"""The API's own logic on both databases: idempotency records; and body/content-type parsing."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest

from trova.accounts import service as accounts
from trova.api import service
from trova.errors import BadRequest, IdempotencyConflict, InvalidJson, MissingPayload
from trova.store import Database, utcnow


def test_idempotency_replay_conflict_and_expiry(db: Database) -> None:
    with db.write() as conn:
        account_id = accounts.create_account(conn, "acme").account.id
    now = utcnow()
    fingerprint = service.request_fingerprint("/phone/bulk", b'{"searches": []}')
    with db.write() as conn:
        assert service.replay(conn, account_id, "k", fingerprint, now=now, ttl_s=60) is None
        service.remember(conn, account_id, "k", fingerprint, 201, {"id": "x", "n": [1]}, now=now)
    with db.write() as conn:
        assert service.replay(conn, account_id, "k", fingerprint, now=now, ttl_s=60) == (
            201,
            {"id": "x", "n": [1]},
        )
        other = service.request_fingerprint("/phone/bulk", b"{}")
        with pytest.raises(IdempotencyConflict):
            service.replay(conn, account_id, "k", other, now=now, ttl_s=60)
    later = now + dt.timedelta(seconds=61)
    with db.write() as conn:
        assert service.replay(conn, account_id, "k", other, now=later, ttl_s=60) is None
        service.remember(conn, account_id, "k", other, 201, {"id": "y"}, now=later)
    with db.write() as conn:
        assert service.forget_expired(conn, now=later + dt.timedelta(seconds=30), ttl_s=60) == 0
        assert service.forget_expired(conn, now=later + dt.timedelta(seconds=61), ttl_s=60) == 1


@pytest.mark.parametrize(
    ("content_type", "accepted"),
    [
        (None, True),
        ("application/json", True),
        ("Application/JSON; charset=utf-8", True),
        ("application/vnd.api+json", True),
        ("text/plain", False),
        ("application/x-www-form-urlencoded", False),
        ("multipart/form-data; boundary=x", False),
    ],
)
def test_content_types(content_type: str | None, accepted: bool) -> None:
    assert service.is_json_content_type(content_type) is accepted


def test_body_parsing() -> None:
    with pytest.raises(MissingPayload):
        service.parse_json_body(b"", None)
    with pytest.raises(MissingPayload):
        service.parse_json_body(b" null ", None)
    with pytest.raises(InvalidJson):
        service.parse_json_body(b'{"a": 1', None)
    with pytest.raises(InvalidJson):
        service.parse_json_body(b'{"a": "\\ud800"}', None)
    with pytest.raises(InvalidJson):
        service.parse_json_body(b'{"a": 1}', "text/csv")
    assert service.parse_json_body(b'{"a": [1, "\xc3\xa9"]}', "application/json") == {"a": [1, "é"]}


def test_idempotency_key_length() -> None:
    assert service.check_key(None) is None
    assert service.check_key("a" * 255) == "a" * 255
    with pytest.raises(BadRequest):
        service.check_key("a" * 256)


def test_rate_limiter_counts_per_key() -> None:
    limiter = service.RateLimiter(3, 60)
    decisions = [limiter.hit("a") for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert limiter.hit("b").allowed
    headers = decisions[-1].headers(now=decisions[-1].reset_at - 59.5)
    assert headers == {
        "Retry-After": "60",
        "X-RateLimit-Limit": "3",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": "60",
    }
    assert decisions[0].headers(now=decisions[0].reset_at - 59.5) == {
        "X-RateLimit-Limit": "3",
        "X-RateLimit-Remaining": "2",
        "X-RateLimit-Reset": "60",
    }


def test_only_a_memory_limiter_counts_in_process() -> None:
    """What lets a POST with a cached key skip its trip to a thread: counting in Redis may block."""
    assert service.RateLimiter(3, 60).in_process
    assert not service.RateLimiter(3, 60, "redis://127.0.0.1:6379").in_process


def test_parse_json_body_bounds_the_depth() -> None:
    assert service.parse_json_body(b'{"a": [[1]]}', None, max_depth=3) == {"a": [[1]]}
    with pytest.raises(InvalidJson):
        service.parse_json_body(b'{"a": [[[1]]]}', None, max_depth=3)
    assert service.parse_json_body(b'"[[[[[["', None, max_depth=1) == "[[[[[["


@pytest.mark.parametrize(
    "text",
    [b"[1.8446744073709552e+19, 0.123456789012345678901234]", b"[1e19, 1e-1234567890123456789012]",
     b'{"k": 1e30, "s": "12676506002282294014967032053760"}', b"18446744073709551615"],
)
def test_parse_json_body_keeps_floats_and_64_bit_integers(text: bytes) -> None:
    assert service.parse_json_body(text, None) == orjson.loads(text)


@pytest.mark.parametrize("text", [b"[1e30, 1267650600228229401496703205376]", b"18446744073709551616"])
def test_parse_json_body_refuses_integers_beyond_64_bits(text: bytes) -> None:
    with pytest.raises(InvalidJson):
        service.parse_json_body(text, None)
