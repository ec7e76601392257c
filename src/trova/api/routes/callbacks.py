"""``POST /v1/callbacks/{token}`` (Trova extension): where asynchronous vendors (``apollo``,
``fullenrich``) deliver what they revealed, at ``TROVA_PUBLIC_URL``.

The token is the unguessable one Trova put in the callback URL of one vendor request
(``sources.callback_repository``); the request carries no API key. The payload is written to that
request's ``source_callbacks`` row, in its own committed transaction, before 200 is answered, so a
crash after the answer loses nothing. An unknown token is 404 (and counts against the caller's
address like a wrong API key); a token already used is 409 (a replay, or the vendor's own retry,
which then stops). Errors use the API's ``{"message": …}`` envelope.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from trova.api.deps import AppContext, Context, client_address, read_body
from trova.api.responses import JsonResponse
from trova.api.service import parse_json_body
from trova.errors import CallbackNotFound, CallbackReplayed
from trova.sources import callback_repository as callbacks
from trova.store import utcnow

router = APIRouter()


def _deliver(ctx: Context, token: str, payload: Any) -> callbacks.Delivery:
    with ctx.db.write() as conn:
        return callbacks.deliver(conn, token, payload, utcnow())


@router.post("/v1/callbacks/{token}", include_in_schema=False)
async def receive_callback(token: str, request: Request, ctx: AppContext) -> Response:
    address = client_address(request)
    ctx.unauth.refuse_if_blocked(address)
    raw = await read_body(request, ctx.settings.max_body_bytes)
    payload = parse_json_body(raw, request.headers.get("content-type"))
    delivery = await run_in_threadpool(_deliver, ctx, token, payload)
    if delivery == "unknown":
        ctx.unauth.count_failure(address)
        raise CallbackNotFound()
    if delivery == "replayed":
        raise CallbackReplayed()
    return JsonResponse({"received": True})
