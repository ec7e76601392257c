"""GET /phone/bulks (extension): the key's bulk batches, newest first, with status, counts and cost."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from trova.accounts.models import Account
from trova.api import schemas
from trova.api.deps import AppContext, Context, PhoneAccount
from trova.api.responses import JsonResponse
from trova.batches.listing import MAX_LIMIT, BatchSummary, list_bulks
from trova.errors import BadRequest

router = APIRouter()
DEFAULT_LIMIT = 20


def _limit(request: Request) -> int:
    text = request.query_params.get("limit")
    if text is None:
        return DEFAULT_LIMIT
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise BadRequest(f"limit must be an integer from 1 to {MAX_LIMIT}")
    return int(text)


def _time(value: dt.datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") + "Z" if value is not None else None


def _summary_body(summary: BatchSummary) -> dict[str, Any]:
    batch, stats = summary.batch, summary.stats
    return {
        "id": batch.id,
        "status": batch.status,
        "created_at": _time(batch.created_at),
        "completed_at": _time(batch.completed_at),
        "requested": stats.requested,
        "finished": stats.finished,
        "found": stats.found,
        "credits_cost": stats.credits_cost,
        "credits_to_refund": stats.credits_to_refund,
        "custom": batch.custom if batch.has_custom else None,
    }


def _read(ctx: Context, account: Account, limit: int, before: str | None) -> dict[str, Any]:
    with ctx.db.read() as conn:
        summaries = list_bulks(conn, account, limit=limit, before=before)
    bodies = [_summary_body(summary) for summary in summaries]
    return {"bulks": bodies, "next_before": bodies[-1]["id"] if len(bodies) == limit else None}


@router.get(
    "/phone/bulks",
    summary="The account's batches, newest first (extension)",
    responses={
        200: schemas.object_answer("`bulks` and `next_before`", "bulks", "next_before"),
        **schemas.ERRORS,
    },
)
async def list_bulk_batches(request: Request, ctx: AppContext, account: PhoneAccount) -> Response:
    limit = _limit(request)
    before = (request.query_params.get("before") or "").lower() or None
    return JsonResponse(await run_in_threadpool(_read, ctx, account, limit, before))
