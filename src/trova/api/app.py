"""The HTTP API: the Enrow phone endpoints, account info, health, metrics and the OpenAPI document.

``create_app`` builds the app: its context (``app.state.ctx``, handed to handlers by ``Depends``),
the exception handlers, the metrics middleware, the OpenAPI document, and one router per endpoint
group (``trova.api.routes``). Only the ``{"message": ...}`` envelope ever reaches a client, for
every error including 5xx and the HTTP protocol errors (``trova.api.protocol``).

Middleware, outermost first: Starlette's error middleware, ``MetricsMiddleware`` (counts every
answer), ``GuardMiddleware`` (request id, header size, in-flight bound, the one logged 500 with
``Connection: close``), then FastAPI's exception handlers and the routers. The hottest requests
(GET /account/info, GET /phone/single, GET and HEAD /healthz) start at ``MetricsMiddleware`` and
go from ``GuardMiddleware`` straight to their endpoint (``trova.api.hot``).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from trova.accounts import keycache
from trova.api import openapi, service
from trova.api.deps import Context
from trova.api.hot import TrovaApi, api_error_response, leaf_routes
from trova.api.middleware import GuardMiddleware, MetricsMiddleware
from trova.api.responses import JsonResponse, error_response
from trova.api.routes import account, bulks, callbacks, explain, export, health, phone
from trova.errors import ApiError
from trova.settings import Settings
from trova.store import Database
from trova.store.group import GroupCommit
from trova.web import install as install_web

log = logging.getLogger("trova.api")

_STATUS_TEXT = {404: "Not found", 405: "Method not allowed"}


def _install_error_handlers(app: FastAPI) -> None:
    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return api_error_response(request, exc)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        message = _STATUS_TEXT.get(exc.status_code) or (
            exc.detail if isinstance(exc.detail, str) else "Error"
        )
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(app, request.scope)
        return error_response(exc.status_code, message, headers or None)

    async def on_validation_error(_request: Request, _exc: Exception) -> Response:
        return error_response(400, "Bad request")

    async def on_unexpected(_request: Request, exc: Exception) -> Response:
        # Only reached by an error outside GuardMiddleware, which logs and answers the others.
        log.error("unhandled error", exc_info=exc)
        return error_response(500, "Internal server error", {"Connection": "close"})

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(Exception, on_unexpected)


def allowed_methods(app: FastAPI, scope: Any) -> str:
    """Every method some route serves on the request's path (Starlette's 405 names only the first
    route's), for the ``Allow`` header of a 405."""
    methods: set[str] = set()
    for route in leaf_routes(app.router.routes):
        found = getattr(route, "methods", None)
        if found and route.matches(scope)[0] is not Match.NONE:
            methods |= found
    return ", ".join(sorted(methods))


def rate_limiter_for(settings: Settings) -> service.RateLimiter:
    """The POST limiter: shared through Redis when ``TROVA_REDIS_URL`` is set, else in this process."""
    return service.RateLimiter(
        settings.rate_limit_post_per_s,
        settings.rate_limit_window_s,
        settings.redis_url or "memory://",
        timeout_s=settings.redis_timeout_s,
        key_prefix=settings.redis_key_prefix,
    )


def unauth_guard_for(settings: Settings) -> service.UnauthGuard:
    """The per-address guard against missing and wrong keys, on the POST limiter's storage."""
    return service.UnauthGuard(
        service.RateLimiter(
            settings.rate_limit_unauth_per_s,
            1,
            settings.redis_url or "memory://",
            timeout_s=settings.redis_timeout_s,
            key_prefix=settings.redis_key_prefix,
        )
    )


def create_app(settings: Settings, db: Database, *, limiter: service.RateLimiter | None = None) -> FastAPI:
    """The ASGI app for ``settings`` and ``db``; a process has one app and one rate limiter."""
    app = TrovaApi(
        title="Trova",
        version="0.1.0",
        description="Self-hosted phone-number finder with the Enrow phone API.",
        default_response_class=JsonResponse,
        redirect_slashes=False,  # a redirect would be built from the Host header: 404 instead
    )
    limiter = limiter or rate_limiter_for(settings)
    keys = keycache.register(keycache.KeyCache(settings.auth_cache_ttl_s))
    hot_threads = ThreadPoolExecutor(settings.max_in_flight_requests, thread_name_prefix="trova-hot")
    app.state.ctx = Context(
        settings=settings,
        db=db,
        limiter=limiter,
        unauth=unauth_guard_for(settings),
        keys=keys,
        hot_threads=hot_threads,
        writes=GroupCommit(db),
    )
    _install_error_handlers(app)
    openapi.install(app, settings.max_searches_per_batch)
    app.add_middleware(
        GuardMiddleware,
        max_header_bytes=settings.max_header_bytes,
        max_in_flight=settings.max_in_flight_requests,
    )
    app.add_middleware(MetricsMiddleware)
    app.include_router(phone.router)
    app.include_router(explain.router)
    app.include_router(bulks.router)
    app.include_router(export.router)
    app.include_router(account.router)
    app.include_router(health.router)
    app.include_router(callbacks.router)
    install_web(app, settings, db)
    return app
