"""What the routers receive from FastAPI: the app context and the authenticated account.

The context (settings, database, the POST rate limiter) is built once by ``create_app`` and kept in
``app.state``; handlers get it, and the account behind ``x-api-key``, through ``Depends``, except
the hot requests (``trova.api.hot``: the GETs of /phone/single and /account/info, the POSTs of
/phone/single and /phone/bulk), which call :func:`app_context` and :func:`authenticate` (or
:func:`submitting_account`) themselves. Headers and the ``id`` query parameter are read from the
request by hand, never declared as parameters, so that every refusal carries the spec's exact text
and the OpenAPI document stays as written.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from concurrent.futures import Executor
from contextvars import copy_context
from dataclasses import dataclass
from functools import partial
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from sqlalchemy.engine import Connection

from trova.accounts import service as accounts
from trova.accounts.keycache import KeyCache
from trova.accounts.models import Account
from trova.api.service import RateLimiter, UnauthGuard
from trova.errors import InvalidApiKey, MissingApiKey, MissingId, PayloadTooLarge
from trova.settings import Settings
from trova.store import Database
from trova.store.group import GroupCommit

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

T = TypeVar("T")


@dataclass(frozen=True)
class Context:
    """What every handler needs: settings, database, the POST rate limiter of this process, the
    guard against unauthenticated floods (``UnauthGuard``), the keys the phone endpoints checked
    lately (:class:`~trova.accounts.keycache.KeyCache`), the threads of the hot requests
    (:func:`in_hot_thread`: the GETs' reads, the POSTs' writes) and the shared transactions of the
    POSTs (:meth:`write`).

    ``hot_threads`` has a thread for each request the process answers at once
    (``TROVA_MAX_IN_FLIGHT_REQUESTS``), so a POST waiting for its group's commit never keeps a read
    from a thread."""

    settings: Settings
    db: Database
    limiter: RateLimiter
    unauth: UnauthGuard
    keys: KeyCache
    hot_threads: Executor
    writes: GroupCommit

    def write(self, account_id: int, work: Callable[[Connection], T]) -> T:
        """``work(conn)`` for ``account_id`` in a write transaction, on the calling thread, shared
        with the requests waiting beside it (:class:`~trova.store.group.GroupCommit`), which run in
        account order."""
        return self.writes.run(work, order=account_id)


async def in_hot_thread(ctx: Context, call: Callable[[], T]) -> T:
    """``call()`` on a thread of ``ctx.hot_threads``, in the request's context (its id on log lines): the
    one trip to a thread of GET /phone/single, GET /account/info and the POSTs of /phone/single and
    /phone/bulk, without the capacity limiter and cancel scope anyio's thread pool sets up around
    each call, nor the chained futures of ``run_in_executor``: the thread hands its outcome to the
    loop in one call."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    context = copy_context()

    def work() -> None:
        try:
            result = context.run(call)
        except BaseException as error:  # handed to the awaiting request as it is
            loop.call_soon_threadsafe(_settle, future, None, error)
        else:
            loop.call_soon_threadsafe(_settle, future, result, None)

    ctx.hot_threads.submit(work)
    return await future


def _settle(future: asyncio.Future[T], result: T | None, error: BaseException | None) -> None:
    """Give ``future`` its outcome, unless its request was cancelled meanwhile."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)  # type: ignore[arg-type]


def app_context(request: Request) -> Context:
    """The app's :class:`Context` (``app.state.ctx``, set by ``create_app``): what the hottest
    handlers read directly, without a dependency for FastAPI to solve on every request."""
    ctx: Context = request.app.state.ctx
    return ctx


async def context(request: Request) -> Context:
    """:func:`app_context`, as a dependency."""
    return app_context(request)


AppContext = Annotated[Context, Depends(context)]


def client_address(request: Request) -> str:
    """The peer's IP address, what the per-address limits count by (``unknown`` when the server
    does not know it)."""
    return request.client.host if request.client else "unknown"


def authenticate(ctx: Context, request: Request, *, phone: bool, conn: Connection | None = None) -> Account:
    """The account of the request's ``x-api-key`` (401 otherwise), read on ``conn`` when given (the
    handler's own, saving a connection and a thread hop), else by one statement of its own; for
    the phone endpoints (``phone``) from the key cache while fresh. A missing or wrong key counts
    against the client's address (429 past the limit); blocking."""
    address = client_address(request)
    key = request.headers.get("x-api-key")
    if not phone:
        ctx.unauth.refuse_if_blocked(address)
    elif (cached := _cached_account(ctx, address, key)) is not None:
        return cached
    generation = ctx.keys.generation
    try:
        if conn is not None:
            account = accounts.authenticate(conn, key, phone=phone)
        else:
            with ctx.db.read_single() as own:
                account = accounts.authenticate(own, key, phone=phone)
    except (MissingApiKey, InvalidApiKey):
        ctx.unauth.count_failure(address)
        raise
    if phone and key:
        accounts.remember_phone_account(ctx.keys, key, account, generation)
    return account


def _cached_account(ctx: Context, address: str, key: str | None) -> Account | None:
    """The phone account ``key`` authenticated lately (the key cache), else None; never blocks. A
    blocked address is refused first (429), as every key it sends."""
    ctx.unauth.refuse_if_blocked(address)
    return accounts.cached_phone_account(ctx.keys, key)


def phone_account(request: Request, ctx: AppContext) -> Account:
    """The account allowed to use the phone endpoints (run in the thread pool by FastAPI)."""
    return authenticate(ctx, request, phone=True)


def check_declared_size(request: Request, limit: int) -> None:
    """413 at once when ``Content-Length`` announces more than ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge()


async def submitting_account(request: Request, ctx: Context) -> Account:
    """The account of a POST, in the spec's order: declared size (413), key (401), rate limit (429).

    A key in the cache, counted in this process's memory, is answered on the event loop: nothing
    can block, and under load each trip to a thread and back costs a request about what a whole GET
    does. With this and the POST's write on ``ctx.hot_threads`` (one trip in all instead of two), 200
    connections of mixed traffic saw the POSTs' p50 at 154 and 156 ms against 233 to 299 ms, the
    reads' about 100 ms either way. Otherwise in one trip to a thread of ``ctx.hot_threads``: the key's
    read and a shared (Redis) count may block.

    The rate-limit headers of a counted POST are kept in ``request.state.rate_limit_headers``, so
    that its answer carries them whatever it is (201, or an error raised later).
    """
    check_declared_size(request, ctx.settings.max_body_bytes)
    if ctx.limiter.in_process:
        cached = _cached_account(ctx, client_address(request), request.headers.get("x-api-key"))
        if cached is not None:
            return _counted(ctx, request, cached)
    return await in_hot_thread(ctx, partial(_counted_account, ctx, request))


def _counted_account(ctx: Context, request: Request) -> Account:
    return _counted(ctx, request, authenticate(ctx, request, phone=True))


def _counted(ctx: Context, request: Request, account: Account) -> Account:
    """``account``, once this POST is counted against its rate limit (429 past it)."""
    request.state.rate_limit_headers = ctx.limiter.check(f"account:{account.id}")
    return account


def rate_limit_headers(request: Request) -> dict[str, str]:
    """The headers :func:`submitting_account` set for this request (none before it ran)."""
    headers: dict[str, str] = getattr(request.state, "rate_limit_headers", {})
    return headers


PhoneAccount = Annotated[Account, Depends(phone_account)]


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it exceeds ``limit`` (declared or streamed)."""
    check_declared_size(request, limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


def id_param(request: Request) -> str | None:
    """The ``id`` query parameter (``Missing id`` when absent); ``None`` when it cannot name any
    stored batch (not a UUID)."""
    value = request.query_params.get("id")
    if not value:
        raise MissingId()
    return value.lower() if _UUID.match(value) else None
