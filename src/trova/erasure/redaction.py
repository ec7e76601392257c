"""Redaction of erased numbers from what webhooks hold: queued payloads and receivers' responses."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy.engine import Connection

from trova.webhooks import repository as webhooks_repo


def redact_webhooks(
    conn: Connection, batch_ids: Collection[str], numbers: Collection[str]
) -> tuple[int, int]:
    """Redact the numbers from webhook payloads and stored receiver responses of the given batches."""
    if not numbers or not batch_ids:
        return 0, 0
    payloads = 0
    for message in webhooks_repo.messages_of_batches(conn, sorted(batch_ids)):
        redacted = redact_value(message.payload, numbers)
        if redacted != message.payload:
            webhooks_repo.replace_payload(conn, message.id, redacted)
            payloads += 1
    digits = {number.lstrip("+") for number in numbers}
    excerpts = webhooks_repo.response_excerpts_of_batches(conn, sorted(batch_ids))
    holding = [attempt for attempt, text in excerpts.items() if any(d in text for d in digits)]
    webhooks_repo.clear_response_excerpts(conn, holding)
    return payloads, len(holding)


_NUMBER_FIELDS = ("number", "country", "line_type")


def redact_value(value: Any, numbers: Collection[str]) -> Any:
    """``value`` (a JSON document) without the given numbers: an object holding one as ``number``
    loses its number fields (``number``, ``country``, ``line_type`` become null), any other string
    equal to one becomes null."""
    if isinstance(value, Mapping):
        holds = value.get("number") in numbers
        return {
            key: None if holds and key in _NUMBER_FIELDS else redact_value(item, numbers)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact_value(item, numbers) for item in value]
    if isinstance(value, str) and value in numbers:
        return None
    return value
