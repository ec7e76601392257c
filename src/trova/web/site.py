"""Mounting the web app on the API's app: context, templates, assets, security headers, offline docs.

``install`` is the one call ``trova.api.app.create_app`` makes. The pages (``trova.web.pages``) are
rendered on the server with Jinja2; every script, style and icon is a file of this package served
under ``/assets``; ``/docs`` (Swagger UI 5, ``swagger-ui-dist``) and ``/redoc`` (ReDoc's standalone
bundle) are shipped here too (``static/``, with their licences) and need no internet access.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trova.accounts.models import Account
from trova.settings import Settings
from trova.store import Database
from trova.web.i18n import LOCALES, Language, locale_of
from trova.web.runs import Runs
from trova.web.sessions import Sessions, data_dir, session_secret

STATIC = Path(__file__).resolve().parent / "static"
API_PREFIXES = ("/phone", "/account", "/health", "/metrics", "/openapi.json")
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'; object-src 'none'"
)
DOCS_CSP = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
"""Swagger UI and ReDoc set inline styles; their scripts are still only this site's files."""
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]


@dataclass
class Web:
    """What every page handler needs, built once by :func:`install` (``app.state.web``)."""

    settings: Settings
    db: Database
    sessions: Sessions
    runs: Runs
    templates: Environment

    def render(
        self, request: Request, name: str, context: dict[str, Any], *, status_code: int = 200,
        account: Account | None = None,
    ) -> HTMLResponse:
        language = Language(locale_of(request))
        body = self.templates.get_template(name).render(
            request=request,
            account=account,
            lang=language,
            locales=LOCALES,
            _=language.gettext,
            ngettext=language.ngettext,
            csrf_token=self.sessions.csrf_token(request),
            **context,
        )
        response = HTMLResponse(body, status_code=status_code)
        self.sessions.keep_csrf(request, response)
        response.headers["cache-control"] = "no-store"
        return response


def web_of(request: Request) -> Web:
    web: Web = request.app.state.web
    return web


class SecurityHeaders:
    """Adds CSP, nosniff, referrer and frame headers to every answer that is not the JSON API's."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope.get("path", "")).startswith(API_PREFIXES):
            await self.app(scope, receive, send)
            return

        path = str(scope.get("path", ""))
        csp = DOCS_CSP if path in ("/docs", "/redoc") else CSP

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), *SECURITY_HEADERS]
                message["headers"] = [*headers, (b"content-security-policy", csp.encode())]
            await send(message)

        await self.app(scope, receive, with_headers)


def _docs_page(title: str, head: str, body: str) -> HTMLResponse:
    html = (
        f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>"
        f"{head}</head><body>{body}</body></html>"
    )
    return HTMLResponse(html)


def _install_docs(app: FastAPI) -> None:
    """Swagger UI at ``/docs`` and ReDoc at ``/redoc``, from files served by this process."""
    kept: list[BaseRoute] = [
        route for route in app.router.routes
        if getattr(route, "path", None) not in ("/docs", "/docs/oauth2-redirect", "/redoc")
    ]
    app.router.routes[:] = kept

    async def docs(_request: Request) -> Response:
        return _docs_page(
            "Trova - API",
            '<link rel="stylesheet" href="/assets/swagger-ui/swagger-ui.css">',
            '<div id="swagger-ui"></div><script src="/assets/swagger-ui/swagger-ui-bundle.js"></script>'
            '<script src="/assets/docs.js"></script>',
        )

    async def redoc(_request: Request) -> Response:
        return _docs_page(
            "Trova - API", "",
            '<div id="redoc" data-spec-url="/openapi.json"></div>'
            '<script src="/assets/redoc.standalone.js"></script>'
            '<script src="/assets/redoc-init.js"></script>',
        )

    app.add_route("/docs", docs, include_in_schema=False)
    app.add_route("/redoc", redoc, include_in_schema=False)


def install(app: FastAPI, settings: Settings, db: Database) -> None:
    """Mount the web app (pages, assets, offline docs, security headers) on the API's ``app``."""
    from trova.web import admin, optout, pages  # the routers import this module

    root = data_dir(settings)
    templates = Environment(
        loader=PackageLoader("trova.web", "templates"),
        autoescape=select_autoescape(["html"], default_for_string=True),
        auto_reload=False,
    )
    app.state.web = Web(
        settings=settings,
        db=db,
        sessions=Sessions(session_secret(settings), settings.web_session_max_age_s),
        runs=Runs(root),
        templates=templates,
    )
    _install_docs(app)
    app.mount("/assets", StaticFiles(directory=STATIC), name="assets")
    app.include_router(pages.router)
    app.include_router(admin.router)
    app.include_router(optout.router)
    app.add_middleware(SecurityHeaders)
