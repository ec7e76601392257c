"""Fixtures of the webhook tests: settings with short schedules, accounts, a sender in a thread."""

from __future__ import annotations

import asyncio
import ssl
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from trova.accounts.service import create_account
from trova.settings import Settings
from trova.store import Database
from trova.webhooks import repository as repo
from trova.webhooks.models import Attempt, Message
from trova.webhooks.sender import Sender, run_sender_in_thread
from trova.webhooks.service import notify, webhook_urls

FAST = {
    "webhook_allow_http": True,
    "webhook_allow_private": True,
    "webhook_retry_schedule_s": (0.05, 0.05, 0.05),
    "webhook_timeout_s": 1.0,
    "webhook_poll_interval_s": 0.02,
    "webhook_concurrency": 10,
}


def fast_settings(db: Database, **overrides: Any) -> Settings:
    """Settings for a sender test: allow flags on, retries and polls in tens of milliseconds."""
    return Settings(database_url=db.url, **{**FAST, **overrides})


@contextmanager
def sender_running(
    settings: Settings, db: Database, *, ssl_context: ssl.SSLContext | None = None
) -> Iterator[None]:
    """The real sender loop in its own thread, stopped (gracefully) when the block ends."""
    stop = threading.Event()
    if ssl_context is None:
        target: Callable[[], None] = lambda: run_sender_in_thread(settings, db, stop)  # noqa: E731
    else:
        target = lambda: asyncio.run(Sender(settings, db, ssl_context=ssl_context).run(stop))  # noqa: E731
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)
        assert not thread.is_alive(), "sender did not stop"


def new_account(db: Database, *, webhook_url: str | None = None) -> tuple[int, str]:
    """A fresh account (id, webhook secret), made by the accounts service."""
    with db.write() as conn:
        created = create_account(conn, f"acct-{uuid.uuid4().hex[:8]}", credits=1000, webhook_url=webhook_url)
    return created.account.id, created.webhook_secret


def queue(db: Database, account_id: int, url: str | None, payload: dict[str, Any] | None = None) -> str:
    """Queue a bulk-finished message the way the job step does, in its own transaction."""
    batch_id = str(uuid.uuid4())
    body = payload or {"event": "bulk_phone_search_finished", "id": batch_id, "credits": {"cost": 80}}
    with db.write() as conn:
        (to,) = webhook_urls(conn, [(account_id, url)])
        assert to is not None
        message_id = notify(
            conn,
            url=to,
            account_id=account_id,
            batch_id=batch_id,
            event="bulk_phone_search_finished",
            payload=body,
        )
    assert message_id is not None
    return message_id


def message(db: Database, message_id: str) -> Message:
    with db.read() as conn:
        found = repo.get_message(conn, message_id)
    assert found is not None
    return found


def attempts(db: Database, message_id: str) -> list[Attempt]:
    with db.read() as conn:
        return repo.attempts_of(conn, message_id)


def settled(db: Database, message_id: str) -> Message | None:
    """The message once it is delivered or failed, else None (for ``wait_for``)."""
    found = message(db, message_id)
    return found if found.status != "pending" else None


@pytest.fixture
def account(db: Database) -> tuple[int, str]:
    return new_account(db)
