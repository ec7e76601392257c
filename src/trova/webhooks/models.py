"""Values of the webhooks domain: messages (the outbox), their attempts, and delivery outcomes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

MessageStatus = Literal["pending", "delivered", "failed"]
Event = Literal["single_phone_search_finished", "bulk_phone_search_finished"]
Verdict = Literal["delivered", "retry", "stop"]
"""What one attempt means for its message: done, try again later, or give up now."""

EXCERPT_BYTES = 512
"""How much of a receiver's answer each attempt row keeps."""


@dataclass(frozen=True)
class Message:
    """One webhook to deliver; its ``id`` is the ``webhook-id`` header of every attempt."""

    id: str
    account_id: int
    batch_id: str | None
    event: str
    url: str
    payload: dict[str, Any]
    status: MessageStatus
    attempts: int
    next_attempt_at: dt.datetime
    last_error: str | None
    created_at: dt.datetime
    delivered_at: dt.datetime | None
    lease_owner: str | None = None


@dataclass(frozen=True)
class Attempt:
    """One delivery attempt, as recorded."""

    id: int
    message_id: str
    attempted_at: dt.datetime
    status_code: int | None
    latency_ms: int | None
    error: str | None
    response_excerpt: str | None


@dataclass(frozen=True)
class Outcome:
    """What happened when one message was sent once; becomes an attempt row."""

    verdict: Verdict
    attempted_at: dt.datetime
    latency_ms: int
    status_code: int | None = None
    error: str | None = None
    response_excerpt: str | None = None
    retry_after_s: float | None = None


@dataclass(frozen=True)
class SigningSecrets:
    """The secrets a message is signed with now: the current one, and the previous one for a while."""

    current: str
    previous: str | None = None

    @property
    def all(self) -> tuple[str, ...]:
        return (self.current,) if self.previous is None else (self.current, self.previous)
