"""The short way of the hottest requests through the app (issue #18): GET /account/info, GET and
POST /phone/single, POST /phone/bulk and GET or HEAD /healthz.

Any other request crosses, outermost first: FastAPI's telemetry check, Starlette's error middleware,
FastAPI's body limit, ``SecurityHeaders`` (which lets the API's paths through untouched),
``MetricsMiddleware``, ``GuardMiddleware``, the exception middleware, the exit stack, the route
matching of each included router and FastAPI's request handler (with the dependencies it solves):
more work than the account read of GET /account/info itself, and about a fifth of a POST
/phone/single on PostgreSQL. A hot request (its method and path exactly one of the above) starts at
the app's own ``MetricsMiddleware`` and, below its ``GuardMiddleware``, goes straight to its route's
endpoint with a ``Request``. So it has the same handler, the same middleware instances (one in-
flight count, the same counters, request id and access line) and the route in its scope as the
router puts it there (the metrics label). An ``ApiError`` the handler raises is answered as the
app's exception handler answers it (:func:`api_error_response`); any other exception goes up to
``GuardMiddleware``, as from the router. What the short way skips does nothing for these requests,
except FastAPI's OpenTelemetry hooks, which Trova does not set up.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from trova.api.deps import rate_limit_headers
from trova.api.logs import note_unavailable
from trova.api.middleware import GuardMiddleware, MetricsMiddleware
from trova.api.responses import error_response
from trova.errors import ApiError, DatabaseUnavailable

HOT = frozenset(
    {
        ("GET", "/account/info"),
        ("GET", "/phone/single"),
        ("POST", "/phone/single"),
        ("POST", "/phone/bulk"),
        ("GET", "/healthz"),
        ("HEAD", "/healthz"),
    }
)
"""The method and path of each request that takes the short way."""

Endpoint = Callable[[Request], Awaitable[Response]]


def api_error_response(request: Request, error: ApiError) -> Response:
    """The answer to an ``ApiError``: its envelope, status and headers, with the request's rate-limit
    headers (a database that cannot serve is also logged, at most so often)."""
    if isinstance(error, DatabaseUnavailable):
        note_unavailable(error)
    headers = {**rate_limit_headers(request), **(error.headers or {})}
    return error_response(error.status_code, error.message, headers or None)


def leaf_routes(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    """The routes themselves, through FastAPI's wrappers of included routers (none has a prefix)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from leaf_routes(inner.routes)
        else:
            yield route


def _as_endpoint(route: APIRoute) -> Endpoint:
    """The route's endpoint as a function of the request (it takes the request, or nothing)."""
    call: Callable[..., Awaitable[Response]] = route.endpoint
    parameters = list(inspect.signature(call).parameters.values())
    if not parameters:

        async def without_request(_request: Request) -> Response:
            return await call()

        return without_request
    if len(parameters) == 1 and parameters[0].annotation in (Request, "Request"):
        return call
    raise TypeError(f"{route.path}: a hot endpoint takes the request or nothing, not {parameters}")


class _HotRoutes:
    """What ``GuardMiddleware`` calls: the endpoint of a hot request, else the rest of the app."""

    def __init__(self, rest: ASGIApp, routes: dict[tuple[str, str], tuple[APIRoute, Endpoint]]) -> None:
        self.rest = rest
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hot = self.routes.get((scope.get("method", ""), scope.get("path", "")))
        if hot is None or scope["type"] != "http":
            await self.rest(scope, receive, send)
            return
        route, endpoint = hot
        scope["route"] = route
        request = Request(scope, receive)
        try:
            response = await endpoint(request)
        except ApiError as error:
            response = api_error_response(request, error)
        await response(scope, receive, send)


class TrovaApi(FastAPI):
    """FastAPI with the short way of the hot requests (module docstring)."""

    _entry: ASGIApp | None = None

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        metrics = guard = None
        layer: Any = stack
        while layer is not None and guard is None:
            if isinstance(layer, MetricsMiddleware):
                metrics = layer
            elif isinstance(layer, GuardMiddleware):
                guard = layer
            layer = getattr(layer, "app", None)
        if metrics is None or guard is None:
            raise RuntimeError("the short way needs MetricsMiddleware outside GuardMiddleware")
        routes: dict[tuple[str, str], tuple[APIRoute, Endpoint]] = {}
        for route in leaf_routes(self.router.routes):
            if isinstance(route, APIRoute):
                for method in route.methods or ():
                    if (method, route.path) in HOT:
                        routes[(method, route.path)] = (route, _as_endpoint(route))
        guard.app = _HotRoutes(guard.app, routes)
        self._entry = metrics
        return stack

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self.root_path and (scope["method"], scope["path"]) in HOT:
            if self.middleware_stack is None:
                self.middleware_stack = self.build_middleware_stack()
            assert self._entry is not None
            scope["app"] = self
            await self._entry(scope, receive, send)
            return
        await super().__call__(scope, receive, send)
