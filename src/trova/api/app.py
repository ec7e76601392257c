"""The HTTP API: the Enrow phone endpoints, account info, health, metrics and the OpenAPI document.

Handlers read raw bytes and parse them with orjson so every refusal is the spec's exact text; the
database work of each request runs in the thread pool inside one transaction that the handler owns.
Only the ``{"message": ...}`` envelope ever reaches a client, for every error including 5xx.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from trova.accounts import service as accounts
from trova.accounts.models import Account
from trova.api import explain, service
from trova.api import models as schemas
from trova.batches import repository as batches_repo
from trova.batches import service as batches
from trova.batches.models import BatchKind, Submitted
from trova.errors import BulkNotFound, MissingId, PayloadTooLarge, SearchNotFound, TrovaError
from trova.jobs import repository as jobs_repo
from trova.jobs.service import notify_work
from trova.settings import Settings
from trova.store import Database, utcnow

log = logging.getLogger("trova.api")

REQUESTS = Counter("trova_http_requests", "HTTP requests answered", ["method", "route", "status"])
LATENCY = Histogram(
    "trova_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
JOBS = Gauge("trova_jobs", "Jobs in the queue by status", ["status"])
BATCHES = Gauge("trova_batches", "Batches by status", ["status"])
SEARCHES_LEFT = Gauge("trova_searches_pending", "Searches accepted and not finished yet")

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_STATUS_TEXT = {404: "Not found", 405: "Method not allowed"}


class JsonResponse(Response):
    """A JSON response serialised with orjson."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_response(status_code: int, message: str, headers: dict[str, str] | None = None) -> JsonResponse:
    return JsonResponse({"message": message}, status_code=status_code, headers=headers)


@dataclass(frozen=True)
class Context:
    """What every handler needs: settings, database and the POST rate limiter of this process."""

    settings: Settings
    db: Database
    limiter: service.RateLimiter


# --- handlers' synchronous parts (run in the thread pool) ----------------------------------------


def _authenticate(ctx: Context, api_key: str | None, *, phone: bool) -> Account:
    with ctx.db.read() as conn:
        return accounts.authenticate(conn, api_key, phone=phone)


def _created_body(submitted: Submitted) -> dict[str, Any]:
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
    }


def _submit(
    ctx: Context,
    account: Account,
    kind: BatchKind,
    raw: bytes,
    content_type: str | None,
    idempotency_key: str | None,
    path: str,
) -> tuple[int, Any]:
    """Validate, then store the batch and the idempotency record in one write transaction.

    Two requests racing with one new ``Idempotency-Key`` on PostgreSQL: the loser's insert of the
    key fails, its whole transaction (batch included) rolls back, and the retry replays the winner.
    """
    body = service.parse_json_body(raw, content_type)
    read = batches.read_single if kind == "single" else batches.read_bulk
    submission = read(body, ctx.settings)
    fingerprint = service.request_fingerprint(path, raw)
    for attempt in range(2):
        try:
            with ctx.db.write() as conn:
                now = utcnow()
                if idempotency_key:
                    replayed = service.replay(
                        conn,
                        account.id,
                        idempotency_key,
                        fingerprint,
                        now=now,
                        ttl_s=ctx.settings.idempotency_ttl_s,
                    )
                    if replayed is not None:
                        return replayed
                response = _created_body(batches.submit(conn, account, submission, ctx.settings))
                if idempotency_key:
                    service.remember(conn, account.id, idempotency_key, fingerprint, 201, response, now=now)
            notify_work()
            return 201, response
        except sa.exc.IntegrityError:
            if not idempotency_key or attempt:
                raise
    raise AssertionError("unreachable")


def _get_single(ctx: Context, account: Account, search_id: str) -> tuple[int, Any]:
    with ctx.db.read() as conn:
        done, body = batches.get_single(conn, account, search_id)
    return (200 if done else 202), body


def _get_bulk(ctx: Context, account: Account, batch_id: str) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return batches.get_bulk(conn, account, batch_id)


def _account_info(ctx: Context, api_key: str | None) -> dict[str, Any]:
    account = _authenticate(ctx, api_key, phone=False)
    return {
        "credits": account.credits,
        "webhooks": [account.webhook_url] if account.webhook_url else [],
        "credits_detail": {"sub": account.sub_credits, "paygo": account.paygo_credits},
    }


def _metrics(ctx: Context) -> bytes:
    with ctx.db.read() as conn:
        job_counts = jobs_repo.count_active(conn)
        batch_counts = batches_repo.count_by_status(conn)
        left = batches_repo.searches_left(conn)
    for status in ("queued", "running"):
        JOBS.labels(status).set(job_counts.get(status, 0))
    for status in ("ongoing", "completed", "failed"):
        BATCHES.labels(status).set(batch_counts.get(status, 0))
    SEARCHES_LEFT.set(left)
    return generate_latest(REGISTRY)


def _healthz(ctx: Context) -> dict[str, str]:
    with ctx.db.read() as conn:
        conn.execute(sa.text("SELECT 1"))
    return {"status": "ok"}


# --- request plumbing ----------------------------------------------------------------------------


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it exceeds ``limit`` (declared or streamed)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


def _id_param(request: Request, missing: type[TrovaError] = MissingId) -> str | None:
    """The ``id`` query parameter; ``None`` when it cannot name any stored batch (not a UUID)."""
    value = request.query_params.get("id")
    if not value:
        raise missing()
    return value.lower() if _UUID.match(value) else None


def _context(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


class MetricsMiddleware:
    """Counts requests and their latency per route template (unknown paths share one label)."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[..., Awaitable[Any]],
        send: Callable[..., Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            label = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            REQUESTS.labels(method, label, str(status["code"])).inc()
            LATENCY.labels(method, label).observe(time.perf_counter() - started)


# --- the app -------------------------------------------------------------------------------------


def _install_error_handlers(app: FastAPI) -> None:
    async def on_trova_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, TrovaError)
        return error_response(exc.status_code, exc.message, exc.headers or None)

    async def on_http_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        message = _STATUS_TEXT.get(exc.status_code) or (
            exc.detail if isinstance(exc.detail, str) else "Error"
        )
        return error_response(exc.status_code, message, dict(exc.headers or {}) or None)

    async def on_validation_error(_request: Request, _exc: Exception) -> Response:
        return error_response(400, "Bad request")

    async def on_unexpected(_request: Request, exc: Exception) -> Response:
        log.error("unhandled error", exc_info=exc)
        return error_response(500, "Internal server error")

    app.add_exception_handler(TrovaError, on_trova_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(Exception, on_unexpected)


def _install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = document.setdefault("components", {})
        components.setdefault("schemas", {}).update(
            schemas.component_schemas(schemas.SingleIn, schemas.BulkIn)
        )
        components["securitySchemes"] = {"apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}}
        for path, operations in document.get("paths", {}).items():
            if path.startswith(("/phone", "/account")):
                for operation in operations.values():
                    operation["security"] = [{"apiKey": []}]
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": schemas.Message, "description": text}
    for status, text in (
        (400, "Bad request (spec text)"),
        (401, "Missing or invalid API key"),
        (402, "Insufficient credits"),
        (404, "Not found"),
        (409, "Idempotency-Key reused with another body"),
        (413, "Payload too large"),
        (429, "Rate limit exceeded"),
    )
}
_ID_PARAM = {"parameters": [{"name": "id", "in": "query", "required": True, "schema": {"type": "string"}}]}


def rate_limiter_for(settings: Settings) -> service.RateLimiter:
    """The POST limiter: shared through Redis when ``TROVA_REDIS_URL`` is set, else in this process."""
    return service.RateLimiter(
        settings.rate_limit_post_per_s,
        settings.rate_limit_window_s,
        settings.redis_url or "memory://",
        timeout_s=settings.redis_timeout_s,
        key_prefix=settings.redis_key_prefix,
    )


def create_app(settings: Settings, db: Database, *, limiter: service.RateLimiter | None = None) -> FastAPI:
    """The ASGI app for ``settings`` and ``db``; a process has one app and one rate limiter."""
    app = FastAPI(
        title="Trova",
        version="0.1.0",
        description="Self-hosted phone-number finder with the Enrow phone API.",
        default_response_class=JsonResponse,
    )
    app.state.ctx = Context(
        settings=settings,
        db=db,
        limiter=limiter or rate_limiter_for(settings),
    )
    _install_error_handlers(app)
    _install_openapi(app)
    app.add_middleware(MetricsMiddleware)

    async def post_search(request: Request, kind: BatchKind) -> Response:
        ctx = _context(request)
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > ctx.settings.max_body_bytes:
            raise PayloadTooLarge()
        account = await run_in_threadpool(_authenticate, ctx, request.headers.get("x-api-key"), phone=True)
        await run_in_threadpool(ctx.limiter.check, f"account:{account.id}")
        key = service.check_key(request.headers.get("idempotency-key"))
        raw = await read_body(request, ctx.settings.max_body_bytes)
        status, body = await run_in_threadpool(
            _submit, ctx, account, kind, raw, request.headers.get("content-type"), key, request.url.path
        )
        return JsonResponse(body, status_code=status)

    @app.post(
        "/phone/single",
        status_code=201,
        openapi_extra=schemas.body_schema(schemas.SingleIn),
        responses={201: {"model": schemas.SingleCreated}, **_ERRORS},
        summary="Start one search",
    )
    async def post_single(request: Request) -> Response:
        return await post_search(request, "single")

    @app.post(
        "/phone/bulk",
        status_code=201,
        openapi_extra=schemas.body_schema(schemas.BulkIn),
        responses={201: {"model": schemas.BulkCreated}, **_ERRORS},
        summary="Start a batch of searches",
    )
    async def post_bulk(request: Request) -> Response:
        return await post_search(request, "bulk")

    @app.get(
        "/phone/single",
        openapi_extra=_ID_PARAM,
        summary="One search's result",
        responses={200: {"model": schemas.SingleResult}, 202: {"model": schemas.SingleResult}, **_ERRORS},
    )
    async def get_single(request: Request) -> Response:
        ctx = _context(request)
        account = await run_in_threadpool(_authenticate, ctx, request.headers.get("x-api-key"), phone=True)
        search_id = _id_param(request)
        if search_id is None:
            raise SearchNotFound()
        status, body = await run_in_threadpool(_get_single, ctx, account, search_id)
        return JsonResponse(body, status_code=status)

    @app.get(
        "/phone/bulk",
        openapi_extra=_ID_PARAM,
        summary="A batch's status and results",
        responses={200: {"model": schemas.BulkResults}, **_ERRORS},
    )
    async def get_bulk(request: Request) -> Response:
        ctx = _context(request)
        account = await run_in_threadpool(_authenticate, ctx, request.headers.get("x-api-key"), phone=True)
        batch_id = _id_param(request)
        if batch_id is None:
            raise BulkNotFound()
        return JsonResponse(await run_in_threadpool(_get_bulk, ctx, account, batch_id))

    app.include_router(explain.router)

    @app.get("/account/info", responses={200: {"model": schemas.AccountInfo}, **_ERRORS}, summary="Credits")
    async def account_info(request: Request) -> Response:
        ctx = _context(request)
        return JsonResponse(await run_in_threadpool(_account_info, ctx, request.headers.get("x-api-key")))

    @app.get("/healthz", summary="Liveness and database reachability")
    async def healthz(request: Request) -> Response:
        return JsonResponse(await run_in_threadpool(_healthz, _context(request)))

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics(request: Request) -> Response:
        payload = await run_in_threadpool(_metrics, _context(request))
        return Response(payload, media_type=CONTENT_TYPE_LATEST)

    return app
