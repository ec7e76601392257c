"""With the allow flags off: non-public addresses and plain http are refused at delivery, and recorded."""

from __future__ import annotations

import pytest

from tests.webhooks.conftest import attempts, fast_settings, queue, sender_running, settled
from tests.webhooks.receiver import receiver, wait_for
from trova.store import Database

LOCKED = {"webhook_allow_http": False, "webhook_allow_private": False}


@pytest.mark.parametrize(
    ("host", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("localhost", "loopback"),
        ("[::ffff:127.0.0.1]", "loopback"),
        ("10.0.0.1", "private"),
        ("169.254.169.254", "link-local"),
        ("[::1]", "loopback"),
        ("0.0.0.0", "unspecified"),
    ],
)
def test_a_non_public_address_is_refused_at_delivery_recorded_and_not_retried(
    db: Database, account: tuple[int, str], host: str, kind: str
) -> None:
    with receiver() as hook:
        message_id = queue(db, account[0], f"https://{host}:{hook.port}/hook")
        with sender_running(fast_settings(db, **LOCKED), db):
            done = wait_for(lambda: settled(db, message_id), what="refusal")
    assert done.status == "failed" and done.attempts == 1
    (row,) = attempts(db, message_id)
    assert row.status_code is None
    assert row.error is not None and kind in row.error and "only public addresses" in row.error
    assert hook.connections == 0


def test_a_queued_http_url_is_refused_at_delivery_when_http_is_not_allowed(
    db: Database, account: tuple[int, str]
) -> None:
    with receiver() as hook:
        message_id = queue(db, account[0], hook.url)
        with sender_running(fast_settings(db, **LOCKED), db):
            done = wait_for(lambda: settled(db, message_id), what="refusal")
    assert done.status == "failed"
    (row,) = attempts(db, message_id)
    assert row.error is not None and "http://" in row.error and "TROVA_WEBHOOK_ALLOW_HTTP" in row.error
    assert hook.connections == 0


def test_allow_private_lifts_the_address_check(db: Database, account: tuple[int, str]) -> None:
    with receiver() as hook:
        message_id = queue(db, account[0], f"http://localhost:{hook.port}/hook")
        settings = fast_settings(db, webhook_allow_http=True, webhook_allow_private=True)
        with sender_running(settings, db):
            done = wait_for(lambda: settled(db, message_id), what="delivery")
    assert done.status == "delivered" and len(hook.requests) == 1
