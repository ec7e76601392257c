"""Retry decisions, Retry-After parsing and signing: pure functions, checked against the library."""

from __future__ import annotations

import datetime as dt
import email.utils
import random
import time

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from trova.accounts.service import new_webhook_secret
from trova.settings import DEFAULT_WEBHOOK_RETRY_SCHEDULE_S, Settings
from trova.webhooks.models import SigningSecrets
from trova.webhooks.sender import parse_retry_after
from trova.webhooks.service import JITTER, MAX_RETRY_AFTER_S, retry_delay_s
from trova.webhooks.signing import ROTATION_OVERLAP, secrets_in_force, signed_headers


@pytest.mark.parametrize("attempts_done", range(1, len(DEFAULT_WEBHOOK_RETRY_SCHEDULE_S) + 1))
def test_each_retry_follows_the_schedule_within_the_jitter(attempts_done: int) -> None:
    base = DEFAULT_WEBHOOK_RETRY_SCHEDULE_S[attempts_done - 1]
    rng = random.Random(attempts_done)
    delays = [retry_delay_s(attempts_done, DEFAULT_WEBHOOK_RETRY_SCHEDULE_S, rng=rng) for _ in range(200)]
    assert all(d is not None and base * (1 - JITTER) <= d <= base * (1 + JITTER) for d in delays)
    assert len(set(delays)) > 1


def test_no_retry_is_left_after_the_last_scheduled_one() -> None:
    assert retry_delay_s(len(DEFAULT_WEBHOOK_RETRY_SCHEDULE_S) + 1, DEFAULT_WEBHOOK_RETRY_SCHEDULE_S) is None
    assert retry_delay_s(1, ()) is None


def test_retry_after_is_honoured_never_earlier_than_the_schedule_and_capped() -> None:
    schedule = (5.0, 300.0)
    late = retry_delay_s(1, schedule, retry_after_s=120)
    assert late == 120
    early = retry_delay_s(2, schedule, retry_after_s=1)
    assert early is not None and early >= 300 * (1 - JITTER)
    assert retry_delay_s(1, schedule, retry_after_s=10**9) == MAX_RETRY_AFTER_S


def test_the_schedule_setting_reads_comma_separated_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TROVA_WEBHOOK_RETRY_SCHEDULE_S", "1, 2.5,60")
    assert Settings().webhook_retry_schedule_s == (1.0, 2.5, 60.0)


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert parse_retry_after("120") == 120
    in_an_hour = email.utils.formatdate(time.time() + 3600, usegmt=True)
    parsed = parse_retry_after(in_an_hour)
    assert parsed is not None and 3590 <= parsed <= 3601
    assert parse_retry_after(email.utils.formatdate(time.time() - 3600, usegmt=True)) == 0
    assert (
        parse_retry_after("soon") is None
        and parse_retry_after(None) is None
        and parse_retry_after("-5") is None
    )


def test_the_previous_secret_is_in_force_for_24_hours_after_a_rotation() -> None:
    rotated = dt.datetime(2026, 1, 1, 12, 0)
    within = secrets_in_force(
        "whsec_new", "whsec_old", rotated, rotated + ROTATION_OVERLAP - dt.timedelta(seconds=1)
    )
    assert within == SigningSecrets("whsec_new", "whsec_old")
    after = secrets_in_force("whsec_new", "whsec_old", rotated, rotated + ROTATION_OVERLAP)
    assert after == SigningSecrets("whsec_new")
    assert secrets_in_force("whsec_new", None, None, rotated) == SigningSecrets("whsec_new")


def test_signed_headers_verify_with_the_library_for_each_secret_in_force() -> None:
    old, new = new_webhook_secret(), new_webhook_secret()
    assert old.startswith("whsec_") and old != new
    body = b'{"event":"bulk_phone_search_finished","id":"x"}'
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    headers = signed_headers("msg_1", body, SigningSecrets(new, old), now)
    assert headers["webhook-id"] == "msg_1" and headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert headers["webhook-signature"].count("v1,") == 2
    for secret in (old, new):
        assert Webhook(secret).verify(body, headers) == {"event": "bulk_phone_search_finished", "id": "x"}
    with pytest.raises(WebhookVerificationError):
        Webhook(new_webhook_secret()).verify(body, headers)
    only_new = signed_headers("msg_1", body, SigningSecrets(new), now)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(body, only_new)
