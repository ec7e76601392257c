"""Webhooks: the outbox entry point (:func:`notify`), retry decisions, and the operators' actions.

A message is written by :func:`notify` in the transaction that finishes a search or batch, so it
exists if and only if that state change committed. The sender (``webhooks.sender``) then claims due
messages under a lease, sends each, and records every attempt with :func:`record_outcome`.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from trova.accounts import repository as accounts_repo
from trova.accounts.service import new_webhook_secret
from trova.errors import MessageNotFound, UnknownAccount
from trova.settings import Settings
from trova.store import utcnow
from trova.webhooks import repository as repo
from trova.webhooks.guard import validate_submitted_url
from trova.webhooks.models import Attempt, Message, MessageStatus, Outcome, SigningSecrets
from trova.webhooks.signing import secrets_in_force

JITTER = 0.1
"""Each retry delay is scaled by a random factor in [1 - JITTER, 1 + JITTER], so receivers that come
back after an outage are not hit by every queued message in the same second."""

MAX_RETRY_AFTER_S = 24 * 3600.0
"""A receiver's ``Retry-After`` is honoured up to this, so one header cannot park a message forever."""


@dataclass(frozen=True)
class MessageView:
    """A message with what the operator commands show beside it."""

    message: Message
    account_name: str
    attempts_total: int


def webhook_urls(conn: Connection, requests: Sequence[tuple[int, str | None]]) -> list[str | None]:
    """Where each finished request's webhook goes, for each ``(account_id, request_url)``: its own
    URL, else its account's default, else nowhere (None); the accounts' defaults read in one
    statement, only for the requests without a URL of their own."""
    defaults = accounts_repo.default_webhook_urls(conn, {account for account, url in requests if not url})
    return [url or defaults.get(account) or None for account, url in requests]


def notify(
    conn: Connection, *, url: str, account_id: int, batch_id: str, event: str, payload: dict[str, Any]
) -> str:
    """Queue ``payload`` for ``url`` (:func:`webhook_urls` tells where, or that there is nowhere, before
    the payload is built); returns the message id.

    Must be called inside the transaction that finishes the search or batch (outbox pattern), so the
    message exists if and only if the state change committed.
    """
    message_id = f"msg_{uuid.uuid4().hex}"
    repo.insert_message(
        conn,
        message_id=message_id,
        account_id=account_id,
        batch_id=batch_id,
        event=event,
        url=url,
        payload=payload,
        now=utcnow(),
    )
    return message_id


# --- delivery ------------------------------------------------------------------------------------


def retry_delay_s(
    attempts_done: int,
    schedule: Sequence[float],
    *,
    retry_after_s: float | None = None,
    rng: random.Random | None = None,
) -> float | None:
    """Seconds to wait after the ``attempts_done``-th failed attempt, or None when none are left.

    The first attempt is immediate; the n-th retry waits ``schedule[n-1]`` with jitter. A receiver's
    ``Retry-After`` pushes the retry later (never earlier than the schedule), capped at a day.
    """
    if attempts_done > len(schedule):
        return None
    delay = schedule[attempts_done - 1] * (rng or random).uniform(1 - JITTER, 1 + JITTER)
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, MAX_RETRY_AFTER_S))
    return delay


def signing_secrets(conn: Connection, account_id: int, now: dt.datetime) -> SigningSecrets | None:
    """The secrets the account's messages are signed with at ``now``."""
    columns = accounts_repo.webhook_secret_columns(conn, account_id)
    if columns is None:
        return None
    current, previous, rotated_at = columns
    return secrets_in_force(current, previous, rotated_at, now)


def anything_due(conn: Connection) -> bool:
    """Whether some message is due now (a cheap read before claiming under the write lock)."""
    return repo.any_due(conn, now=utcnow())


def claim(conn: Connection, *, owner: str, limit: int, lease_s: float) -> list[Message]:
    """Lease up to ``limit`` due messages to ``owner`` for ``lease_s`` seconds."""
    now = utcnow()
    return repo.claim_due(
        conn, owner=owner, limit=limit, now=now, lease_until=now + dt.timedelta(seconds=lease_s)
    )


def record_outcome(
    conn: Connection, message: Message, outcome: Outcome, *, owner: str, settings: Settings
) -> None:
    """Write the attempt row and move the message on: delivered, due again later, or failed."""
    repo.insert_attempt(conn, message.id, outcome)
    if outcome.verdict == "delivered":
        repo.mark_delivered(conn, message.id, now=outcome.attempted_at)
        return
    error = outcome.error or f"HTTP {outcome.status_code}"
    delay = None
    if outcome.verdict == "retry":
        delay = retry_delay_s(
            message.attempts + 1, settings.webhook_retry_schedule_s, retry_after_s=outcome.retry_after_s
        )
    if delay is None:
        repo.mark_failed(conn, message.id, owner=owner, error=error)
    else:
        next_at = utcnow() + dt.timedelta(seconds=delay)
        repo.schedule_retry(conn, message.id, owner=owner, next_attempt_at=next_at, error=error)


def release(conn: Connection, *, owner: str, message_ids: Sequence[str]) -> None:
    repo.release(conn, owner=owner, message_ids=message_ids)


# --- operators -----------------------------------------------------------------------------------


def _views(conn: Connection, messages: list[Message]) -> list[MessageView]:
    names = accounts_repo.account_names(conn, sorted({m.account_id for m in messages}))
    counts = repo.attempt_counts(conn, [m.id for m in messages])
    return [MessageView(m, names.get(m.account_id, str(m.account_id)), counts.get(m.id, 0)) for m in messages]


def list_messages(
    conn: Connection,
    *,
    account_name: str | None = None,
    status: MessageStatus | None = None,
    limit: int = 100,
) -> list[MessageView]:
    """The newest messages first, of one account (by name) and/or one status."""
    account_id = None
    if account_name is not None:
        account = accounts_repo.account_by_name(conn, account_name)
        if account is None:
            raise UnknownAccount(f"No such account: {account_name}")
        account_id = account.id
    return _views(conn, repo.list_messages(conn, account_id=account_id, status=status, limit=limit))


def show_message(conn: Connection, message_id: str) -> tuple[MessageView, list[Attempt]]:
    """A message and every attempt made to deliver it, oldest first."""
    message = repo.get_message(conn, message_id)
    if message is None:
        raise MessageNotFound(f"No such webhook message: {message_id}")
    return _views(conn, [message])[0], repo.attempts_of(conn, message_id)


def redeliver(conn: Connection, message_id: str) -> Message:
    """Send a message again now (same ``webhook-id``), with a fresh retry schedule."""
    if not repo.requeue(conn, message_id, now=utcnow()):
        raise MessageNotFound(f"No such webhook message: {message_id}")
    message = repo.get_message(conn, message_id)
    assert message is not None
    return message


def set_account_webhook(
    conn: Connection, account_name: str, url: str | None, settings: Settings
) -> str | None:
    """Set (validated exactly like ``settings.webhook`` of a request) or clear an account's default URL."""
    account = accounts_repo.account_by_name(conn, account_name)
    if account is None:
        raise UnknownAccount(f"No such account: {account_name}")
    checked = None if url is None else validate_submitted_url(url, settings)
    accounts_repo.set_webhook_url(conn, account.id, checked)
    return checked


def account_webhook_secret(conn: Connection, account_name: str, *, rotate: bool) -> SigningSecrets:
    """The account's signing secrets in force, after an optional rotation.

    A rotation keeps the old secret in force for 24 h: every message is signed with both meanwhile,
    so receivers can switch to the new secret without missing one.
    """
    account = accounts_repo.account_by_name(conn, account_name)
    if account is None:
        raise UnknownAccount(f"No such account: {account_name}")
    now = utcnow()
    if rotate:
        accounts_repo.rotate_webhook_secret(conn, account.id, secret=new_webhook_secret(), now=now)
    secrets = signing_secrets(conn, account.id, now)
    assert secrets is not None
    return secrets
