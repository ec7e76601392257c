"""The sender against real loopback receivers, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.webhooks.conftest import attempts, fast_settings, message, queue, sender_running, settled
from tests.webhooks.receiver import Reply, receiver, wait_for
from trova.accounts.service import new_webhook_secret
from trova.store import Database, utcnow
from trova.webhooks.service import account_webhook_secret, redeliver


def test_500_then_timeout_then_200_is_delivered_on_the_third_attempt_with_one_webhook_id(
    db: Database, account: tuple[int, str]
) -> None:
    settings = fast_settings(db, webhook_timeout_s=0.5)
    with receiver([Reply(500, body=b"boom"), Reply(hang=True), Reply(200, body=b"thanks")]) as hook:
        message_id = queue(db, account[0], hook.url)
        with sender_running(settings, db):
            done = wait_for(lambda: settled(db, message_id), what="delivery")
    assert done.status == "delivered"
    assert done.attempts == 3
    assert [r.headers["webhook-id"] for r in hook.requests] == [message_id] * 3
    rows = attempts(db, message_id)
    assert [row.status_code for row in rows] == [500, None, 200]
    assert rows[0].error == "HTTP 500" and rows[0].response_excerpt == "boom"
    assert rows[1].error is not None and "timed out" in rows[1].error
    assert rows[2].error is None and rows[2].response_excerpt == "thanks"
    assert all(row.latency_ms is not None and row.latency_ms >= 0 for row in rows)
    assert rows[1].latency_ms is not None and rows[1].latency_ms >= 500


def test_the_signature_verifies_with_standardwebhooks_and_fails_with_another_secret(
    db: Database, account: tuple[int, str]
) -> None:
    account_id, secret = account
    payload = {
        "event": "bulk_phone_search_finished",
        "id": "b-1",
        "credits": {"cost": 80},
        "custom": {"é": 1},
    }
    with receiver() as hook:
        message_id = queue(db, account_id, hook.url, payload)
        with sender_running(fast_settings(db), db):
            wait_for(lambda: settled(db, message_id), what="delivery")
    (request,) = hook.requests
    assert request.headers["content-type"] == "application/json"
    assert Webhook(secret).verify(request.body, request.headers) == payload
    with pytest.raises(WebhookVerificationError):
        Webhook(new_webhook_secret()).verify(request.body, request.headers)
    tampered = request.body.replace(b"80", b"81")
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(tampered, request.headers)


def test_after_a_rotation_both_signatures_are_sent(db: Database, account: tuple[int, str]) -> None:
    account_id, old_secret = account
    with db.write() as conn:
        name = _account_name(conn, account_id)
        rotated = account_webhook_secret(conn, name, rotate=True)
    assert rotated.previous == old_secret and rotated.current != old_secret
    with receiver() as hook:
        message_id = queue(db, account_id, hook.url)
        with sender_running(fast_settings(db), db):
            wait_for(lambda: settled(db, message_id), what="delivery")
    (request,) = hook.requests
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    for secret in (old_secret, rotated.current):
        Webhook(secret).verify(request.body, request.headers)


def test_410_stops_at_once(db: Database, account: tuple[int, str]) -> None:
    with receiver(default=Reply(410, body=b"gone")) as hook:
        message_id = queue(db, account[0], hook.url)
        with sender_running(fast_settings(db), db):
            done = wait_for(lambda: settled(db, message_id), what="failure")
    assert done.status == "failed" and done.attempts == 1
    assert len(hook.requests) == 1
    (row,) = attempts(db, message_id)
    assert row.status_code == 410 and row.error is not None and "410" in row.error


def test_after_the_last_scheduled_attempt_the_message_is_failed(
    db: Database, account: tuple[int, str]
) -> None:
    settings = fast_settings(db, webhook_retry_schedule_s=(0.01, 0.01))
    with receiver(default=Reply(503)) as hook:
        message_id = queue(db, account[0], hook.url)
        with sender_running(settings, db):
            done = wait_for(lambda: settled(db, message_id), what="failure")
    assert done.status == "failed" and done.attempts == 3 and done.last_error == "HTTP 503"
    assert [row.status_code for row in attempts(db, message_id)] == [503, 503, 503]
    assert len(hook.requests) == 3


def test_a_redirect_is_not_followed_and_counts_as_a_failure(db: Database, account: tuple[int, str]) -> None:
    with receiver() as target, receiver([Reply(302, headers={"location": target.url})]) as hook:
        message_id = queue(db, account[0], hook.url)
        with sender_running(fast_settings(db), db):
            done = wait_for(lambda: settled(db, message_id), what="delivery")
    assert done.status == "delivered" and done.attempts == 2
    first, second = attempts(db, message_id)
    assert first.status_code == 302 and first.error is not None and "not followed" in first.error
    assert second.status_code == 200
    assert target.requests == [] and len(hook.requests) == 2


def test_retry_after_pushes_the_next_attempt_later(db: Database, account: tuple[int, str]) -> None:
    with receiver(default=Reply(503, headers={"retry-after": "3600"})) as hook:
        message_id = queue(db, account[0], hook.url)
        before = utcnow()
        with sender_running(fast_settings(db), db):
            wait_for(lambda: attempts(db, message_id), what="first attempt")
            wait_for(lambda: message(db, message_id).lease_owner is None, what="retry scheduled")
    pending = message(db, message_id)
    assert pending.status == "pending" and pending.attempts == 1
    assert pending.next_attempt_at >= before + dt.timedelta(seconds=3590)
    assert len(hook.requests) == 1


def test_redeliver_sends_a_delivered_message_again_with_the_same_id(
    db: Database, account: tuple[int, str]
) -> None:
    with receiver() as hook:
        message_id = queue(db, account[0], hook.url)
        with sender_running(fast_settings(db), db):
            wait_for(lambda: settled(db, message_id), what="delivery")
            with db.write() as conn:
                assert redeliver(conn, message_id).status == "pending"
            wait_for(lambda: len(hook.requests) == 2 and settled(db, message_id), what="redelivery")
    assert [r.headers["webhook-id"] for r in hook.requests] == [message_id, message_id]
    assert orjson.loads(hook.requests[0].body) == orjson.loads(hook.requests[1].body)
    assert [row.status_code for row in attempts(db, message_id)] == [200, 200]


def test_concurrency_is_bounded(db: Database, account: tuple[int, str]) -> None:
    settings = fast_settings(db, webhook_concurrency=3, webhook_timeout_s=30.0)
    with receiver(default=Reply(hang=True)) as hook:
        ids = [queue(db, account[0], hook.url) for _ in range(8)]
        with sender_running(settings, db):
            wait_for(lambda: hook.in_flight == 3, what="three deliveries in flight")
            leased = [m for m in map(lambda i: message(db, i), ids) if m.lease_owner is not None]
            assert len(leased) == 3
            hook.release.set()
            wait_for(lambda: all(settled(db, i) for i in ids), what="every delivery")
    assert hook.max_in_flight == 3
    assert len(hook.requests) == 8


def test_a_message_for_the_account_default_url_is_delivered(db: Database) -> None:
    from tests.webhooks.conftest import new_account

    with receiver() as hook:
        account_id, _secret = new_account(db, webhook_url=hook.url)
        message_id = queue(db, account_id, None)
        with sender_running(fast_settings(db), db):
            wait_for(lambda: settled(db, message_id), what="delivery")
    assert [r.path for r in hook.requests] == ["/hook"]


def _account_name(conn: object, account_id: int) -> str:
    from trova.accounts import repository as accounts_repo

    found = accounts_repo.account_by_id(conn, account_id)  # type: ignore[arg-type]
    assert found is not None
    return found.name


def test_a_binary_answer_is_kept_as_text_and_only_its_first_bytes(
    db: Database, account: tuple[int, str]
) -> None:
    answer = b"\x00\xff\xfe" + "é".encode() + b"x" * 10_000
    with receiver([Reply(500, body=answer)]) as hook:
        message_id = queue(db, account[0], hook.url)
        with sender_running(fast_settings(db), db):
            wait_for(lambda: settled(db, message_id), what="delivery")
    first = attempts(db, message_id)[0]
    assert first.status_code == 500 and first.response_excerpt is not None
    assert first.response_excerpt.startswith("\ufffd\ufffd\ufffdé") and "\x00" not in first.response_excerpt
    assert first.response_excerpt.endswith("x") and len(first.response_excerpt.encode()) <= 512 + 12
    assert hook.requests[0].headers["accept-encoding"] == "identity"
