"""The Enrow phone endpoints: POST and GET of /phone/single and /phone/bulk.

Bodies are read as raw bytes and parsed with orjson so every refusal is the spec's exact text; the
database work of each request runs on a thread inside one transaction the handler owns (the hot
requests on ``Context.hot_threads``, :func:`~trova.api.deps.in_hot_thread`).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.engine import Connection
from starlette.concurrency import run_in_threadpool

from trova.accounts.models import Account
from trova.api import bodies, schemas, service
from trova.api.deps import (
    AppContext,
    Context,
    app_context,
    authenticate,
    id_param,
    in_hot_thread,
    rate_limit_headers,
    read_body,
    submitting_account,
)
from trova.api.responses import JsonResponse
from trova.batches import service as batches
from trova.batches.events import single_result
from trova.batches.models import BatchKind, SearchRow
from trova.errors import BulkNotFound, SearchNotFound
from trova.jobs.notify import notify_work
from trova.store import utcnow

router = APIRouter()


def _submit(
    ctx: Context,
    account: Account,
    kind: BatchKind,
    raw: bytes,
    content_type: str | None,
    idempotency_key: str | None,
    path: str,
) -> tuple[int, Any]:
    """Validate, then store the batch and the idempotency record in one write transaction
    (:meth:`Context.write`: shared with the POSTs waiting beside it, on PostgreSQL the account's,
    each in a savepoint).

    Two requests racing with one new ``Idempotency-Key`` on PostgreSQL: the loser's insert of the
    key fails, all it wrote (batch included) rolls back, and the retry replays the winner.
    """
    body = service.parse_json_body(raw, content_type, ctx.settings.max_json_depth)
    read = batches.read_single if kind == "single" else batches.read_bulk
    submission = read(body, ctx.settings)
    fingerprint = service.request_fingerprint(path, raw)

    def store(conn: Connection) -> tuple[int, Any, bool]:
        now = utcnow()
        if idempotency_key:
            replayed = service.replay(
                conn, account.id, idempotency_key, fingerprint, now=now, ttl_s=ctx.settings.idempotency_ttl_s
            )
            if replayed is not None:
                return *replayed, False
        response = bodies.created_body(batches.submit(conn, account, submission, ctx.settings))
        if idempotency_key:
            service.remember(conn, account.id, idempotency_key, fingerprint, 201, response, now=now)
        return 201, response, True

    for attempt in range(2):
        try:
            status, response, created = ctx.write(account.id, store)
        except sa.exc.IntegrityError:
            if not idempotency_key or attempt:
                raise
            continue
        if created:
            notify_work()
        return status, response
    raise AssertionError("unreachable")


async def _post_search(request: Request, kind: BatchKind) -> Response:
    ctx = app_context(request)
    account = await submitting_account(request, ctx)
    key = service.check_key(request.headers.get("idempotency-key"))
    raw = await read_body(request, ctx.settings.max_body_bytes)
    content_type = request.headers.get("content-type")
    submit = partial(_submit, ctx, account, kind, raw, content_type, key, request.url.path)
    status, body = await in_hot_thread(ctx, submit)
    return JsonResponse(body, status_code=status, headers=rate_limit_headers(request))


def _read_single(ctx: Context, request: Request) -> SearchRow:
    """Key, ``id`` and the search, in the spec's order, on one connection in one trip to the thread
    pool; each of the two reads is one statement, so neither needs a transaction."""
    with ctx.db.read_single() as conn:
        account = authenticate(ctx, request, phone=True, conn=conn)
        search_id = id_param(request)
        if search_id is None:
            raise SearchNotFound()
        return batches.get_single(conn, account, search_id)


def _bulk_body(ctx: Context, request: Request) -> dict[str, Any]:
    """Key, ``id`` and the batch in one trip to the thread pool (one read transaction), then the
    body, built there too: a finished batch's body holds up to 3,000 results."""
    with ctx.db.read() as conn:
        account = authenticate(ctx, request, phone=True, conn=conn)
        batch_id = id_param(request)
        if batch_id is None:
            raise BulkNotFound()
        bulk = batches.get_bulk(conn, account, batch_id)
    return bodies.bulk_body(bulk)


@router.post(
    "/phone/single",
    status_code=201,
    openapi_extra=schemas.body_schema(schemas.SingleIn),
    responses={201: {"model": schemas.SingleCreated}, **schemas.ERRORS},
    summary="Start one search",
)
async def post_single(request: Request) -> Response:
    return await _post_search(request, "single")


@router.post(
    "/phone/bulk",
    status_code=201,
    openapi_extra=schemas.body_schema(schemas.BulkIn),
    responses={201: {"model": schemas.BulkCreated}, **schemas.ERRORS},
    summary="Start a batch of searches",
)
async def post_bulk(request: Request) -> Response:
    return await _post_search(request, "bulk")


@router.get(
    "/phone/single",
    openapi_extra=schemas.ID_PARAM,
    summary="One search's result",
    responses={200: {"model": schemas.SingleResult}, 202: {"model": schemas.SingleResult}, **schemas.ERRORS},
)
async def get_single(request: Request) -> Response:
    ctx = app_context(request)
    row = await in_hot_thread(ctx, partial(_read_single, ctx, request))
    return JsonResponse(single_result(row), status_code=200 if row.status == "done" else 202)


@router.get(
    "/phone/bulk",
    openapi_extra=schemas.ID_PARAM,
    summary="A batch's status and results",
    responses={200: {"model": schemas.BulkResults}, **schemas.ERRORS},
)
async def get_bulk(request: Request, ctx: AppContext) -> Response:
    return JsonResponse(await run_in_threadpool(_bulk_body, ctx, request))
