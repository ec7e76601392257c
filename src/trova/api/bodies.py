"""The JSON bodies of the API's answers, built from the typed values the domains return.

One search's result (``params``, ``custom``, ``qualification``, the number fields) has the same
shape in GET /phone/single, in each item of GET /phone/bulk and in the single-search webhook event;
the job step writes that event, so the shape itself is :func:`trova.batches.events.result_fields`
and the bodies here are built around it.
"""

from __future__ import annotations

from typing import Any

from trova.accounts.models import Account
from trova.batches.events import result_fields
from trova.batches.models import BulkReport, Submitted


def created_body(submitted: Submitted) -> dict[str, Any]:
    """The 201 body of POST /phone/single or /phone/bulk (also what an ``Idempotency-Key`` replays)."""
    amount = submitted.credits.total
    if submitted.kind == "single":
        return {
            "message": "Single search operating",
            "id": submitted.id,
            "credits_used": amount,
            "credits": submitted.credits.as_credits(),
        }
    return {
        "message": "Bulk search operating",
        "id": submitted.id,
        "credits_used": amount,
        "estimated_duration": submitted.estimated_duration_min,
        "credits": submitted.credits.as_credits(),
        **_batch_aliases(submitted.id, submitted.requested, "ongoing"),
    }


def _batch_aliases(batch_id: str, total: int, status: str) -> dict[str, Any]:
    """What other Enrow clients read instead of ``id`` / ``stats.requested`` / ``general.status``:
    ``batch_id`` (Go SDK), ``batchId`` (JS SDK types, Rust crate), ``total`` and ``status`` (both)."""
    return {"batch_id": batch_id, "batchId": batch_id, "total": total, "status": status}


def bulk_body(bulk: BulkReport) -> dict[str, Any]:
    """The body of GET /phone/bulk: counters while ongoing; stats and results in index order when done.

    A finished batch holds up to 3,000 results, so each item is built with one dict literal around
    :func:`result_fields` (the rows come from the repository already unpacked).
    """
    batch = bulk.batch
    general: dict[str, Any] = {"id": batch.id, "status": batch.status}
    if batch.has_custom:
        general["custom"] = batch.custom
    aliases = _batch_aliases(batch.id, batch.requested, batch.status)
    stats = bulk.stats
    if stats is None:
        return {
            "general": general,
            "stats": {"requested": batch.requested, "finished": batch.finished},
            **aliases,
        }
    return {
        "general": general,
        "stats": {
            "requested": stats.requested,
            "finished": stats.finished,
            "found": stats.found,
            "valid": stats.valid,
            "credits_cost": stats.credits_cost,
            "credits_to_refund": stats.credits_to_refund,
        },
        "results": [{"index": row.index, "id": row.id, **result_fields(row)} for row in bulk.rows],
        **aliases,
    }


def account_body(account: Account) -> dict[str, Any]:
    """The body of GET /account/info: total credits, the webhook URL if any, and the sub/paygo detail."""
    return {
        "credits": account.credits,
        "webhooks": [account.webhook_url] if account.webhook_url else [],
        "credits_detail": {"sub": account.sub_credits, "paygo": account.paygo_credits},
    }
