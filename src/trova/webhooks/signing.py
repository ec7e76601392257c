"""Standard Webhooks signing (https://www.standardwebhooks.com), via the ``standardwebhooks`` package.

Every attempt carries ``webhook-id`` (the message id, the same on every attempt so receivers can
de-duplicate), ``webhook-timestamp`` (the attempt's Unix time, so receivers can refuse replays) and
``webhook-signature`` (``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``). Each account has one
``whsec_`` secret (created by ``accounts.service.new_webhook_secret``); after a rotation the
previous secret stays in force for :data:`ROTATION_OVERLAP` and both signatures are sent,
space-separated, so receivers can switch secrets without losing messages.
"""

from __future__ import annotations

import datetime as dt

from standardwebhooks import Webhook

from trova.webhooks.models import SigningSecrets

ROTATION_OVERLAP = dt.timedelta(hours=24)


def secrets_in_force(
    current: str, previous: str | None, rotated_at: dt.datetime | None, now: dt.datetime
) -> SigningSecrets:
    """The secrets to sign with at ``now`` (naive UTC): the previous one only within the overlap."""
    if previous and rotated_at is not None and now - rotated_at < ROTATION_OVERLAP:
        return SigningSecrets(current=current, previous=previous)
    return SigningSecrets(current=current)


def signed_headers(message_id: str, body: bytes, signing: SigningSecrets, now: dt.datetime) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt sending ``body`` at ``now`` (naive UTC)."""
    timestamp = now.replace(tzinfo=dt.UTC)
    text = body.decode("utf-8")
    signatures = [Webhook(secret).sign(message_id, timestamp, text) for secret in signing.all]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": " ".join(signatures),
    }
