"""The operator console at ``/admin``: accounts (with their upstream budget and this month's vendor
spend) and the suppression list, each action audited.

Signing in takes an operator token (``trova admin token``; stored hashed). Destructive actions —
disabling the phone feature, rotating a key, removing a suppression entry — first show a
confirmation page. Every action writes its audit row (``privacy.operators``) in its own
transaction; a new or rotated API key is shown once, on the page that answers the action.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.engine import Connection
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from trova.accounts import operators
from trova.accounts import service as accounts
from trova.accounts.models import Split
from trova.erasure import service as erasure
from trova.erasure.selectors import selector_from
from trova.errors import TrovaError
from trova.privacy import operators as audit
from trova.privacy import optouts, suppressions
from trova.sources import service as sources
from trova.sources.config import configured_sources
from trova.store import utcnow
from trova.web.auth import csrf_refused, form_text
from trova.web.i18n import N_
from trova.web.sessions import CSRF_FIELD, session_secret
from trova.web.site import Web, web_of
from trova.webhooks import service as webhooks

router = APIRouter(include_in_schema=False)
ADMIN_COOKIE = "trova_admin"
BAD_TOKEN = N_("This operator token is not valid")
BAD_REQUEST = N_("Bad request")
DESTRUCTIVE = {
    "disable_phone": N_("Disable the phone feature of this account?"),
    "rotate_key": N_("Rotate the API key of this account? The current key stops working at once."),
    "approve_optout": N_("Approve this request? The person's records and number are erased and suppressed."),
    "unsuppress": N_(
        "Remove this entry from the suppression list? The person or number may be returned again."
    ),
}


def _signer(web: Web) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(session_secret(web.settings), salt="trova-web-admin")


def operator_of(web: Web, request: Request) -> int | None:
    token = request.cookies.get(ADMIN_COOKIE)
    if not token:
        return None
    try:
        token_id = int(_signer(web).loads(token, max_age=web.settings.web_session_max_age_s))
    except (BadSignature, ValueError, TypeError):
        return None
    with web.db.read() as conn:
        return token_id if operators.token_exists(conn, token_id) else None


def _sources(web: Web, conn: Connection) -> list[Any]:
    """The upstream sources' counters over the last 30 days (none when the configuration is bad)."""
    try:
        specs = configured_sources(web.settings)
    except TrovaError:
        return []
    return sources.stats(conn, specs, utcnow().date() - dt.timedelta(days=29))


def _console(web: Web) -> dict[str, Any]:
    with web.db.read() as conn:
        listed = accounts.list_accounts(conn)
        now = utcnow()
        return {
            "sources": _sources(web, conn),
            "failed_webhooks": webhooks.list_messages(conn, status="failed", limit=50),
            "accounts": listed,
            "upstream_spend": {a.id: sources.account_spend(conn, a.id, now) for a in listed},
            "suppressions": suppressions.list_suppressions(conn),
            "actions": audit.recent(conn, 30),
            "optouts": optouts.pending(conn),
        }


def _page(web: Web, request: Request, **context: Any) -> Response:
    data = _console(web)
    data.update(context)
    data.setdefault("error", None)
    data.setdefault("shown_key", None)
    return web.render(request, "admin.html", data, status_code=int(data.pop("status", 200)))


@router.get("/admin")
def console(request: Request) -> Response:
    web = web_of(request)
    if operator_of(web, request) is None:
        return web.render(request, "admin_sign_in.html", {"error": None})
    return _page(web, request)


@router.post("/admin/sign-in")
async def admin_sign_in(request: Request) -> Response:
    web = web_of(request)
    form = await request.form()
    if not web.sessions.check_post(request, form_text(form.get(CSRF_FIELD))):
        return csrf_refused(web, request, None)

    def check() -> int | None:
        with web.db.read() as conn:
            return operators.token_id(conn, form_text(form.get("token")).strip())

    token_id = await run_in_threadpool(check)
    if token_id is None:
        return web.render(request, "admin_sign_in.html", {"error": BAD_TOKEN}, status_code=401)
    response = RedirectResponse("/admin", status_code=303)
    response.set_cookie(
        ADMIN_COOKIE, _signer(web).dumps(token_id), max_age=web.settings.web_session_max_age_s,
        httponly=True, samesite="strict", secure=request.url.scheme == "https", path="/admin",
    )
    return response


@router.post("/admin/sign-out")
async def admin_sign_out(request: Request) -> Response:
    web = web_of(request)
    form = await request.form()
    if not web.sessions.check_post(request, form_text(form.get(CSRF_FIELD))):
        return csrf_refused(web, request, None)
    response = RedirectResponse("/admin", status_code=303)
    response.delete_cookie(ADMIN_COOKIE, path="/admin")
    return response


def _int(value: str) -> int:
    number = int(value.strip() or "0")
    if number < 0:
        raise ValueError(value)
    return number


def _budget(value: str) -> float | None:
    """The upstream budget typed in the console: empty for no limit, else a number ≥ 0."""
    if not value.strip():
        return None
    number = float(value.strip().replace(",", "."))
    if not number >= 0 or number == float("inf"):
        raise ValueError(value)
    return number


def _act(conn: Connection, token_id: int, action: str, form: dict[str, str]) -> dict[str, Any]:
    """Run one action and write its audit row; what the answering page should show."""
    name = form.get("account", "")
    if action == "create":
        name, credits = form["name"].strip(), _int(form.get("credits", "0"))
        created = accounts.create_account(conn, name, credits=credits)
        audit.record(conn, token_id, action, name, {"credits": credits})
        return {"shown_key": (name, created.api_key)}
    if action == "topup":
        amount = _int(form.get("credits", "0"))
        accounts.topup(conn, accounts.require_account(conn, name).id, Split(sub=amount, paygo=0),
                       note="operator console")
        audit.record(conn, token_id, action, name, {"credits": amount})
        return {}
    if action in ("disable_phone", "enable_phone"):
        accounts.set_phone_enabled(conn, accounts.require_account(conn, name).id, action == "enable_phone")
        audit.record(conn, token_id, action, name)
        return {}
    if action == "upstream_budget":
        per_month = _budget(form.get("budget", ""))
        accounts.set_upstream_budget(conn, accounts.require_account(conn, name).id, per_month)
        audit.record(conn, token_id, action, name, {"per_month": per_month})
        return {}
    if action == "rotate_key":
        key = accounts.rotate_key(conn, accounts.require_account(conn, name).id)
        audit.record(conn, token_id, action, name)
        return {"shown_key": (name, key)}
    if action == "suppress":
        text = form.get("subject", "").strip()
        selector = selector_from(phone=text) if text.startswith("+") else selector_from(linkedin=text)
        added, _old = suppressions.suppress(conn, selector.subjects(), note="operator console", now=utcnow())
        audit.record(conn, token_id, action, ", ".join(entry.label for entry in added) or None)
        return {}
    if action == "unsuppress":
        removed = suppressions.unsuppress(conn, _int(form.get("entry", "0")))
        audit.record(conn, token_id, action, f"#{removed.id} {removed.label}")
        return {}
    if action == "redeliver":
        message = webhooks.redeliver(conn, form.get("message", ""))
        audit.record(conn, token_id, action, message.id)
        return {}
    if action in ("approve_optout", "reject_optout"):
        return _decide(conn, token_id, action, _int(form.get("request", "0")))
    raise ValueError(action)


def _decide(conn: Connection, token_id: int, action: str, request_id: int) -> dict[str, Any]:
    """Approve (erase and suppress, as ``trova erase``) or reject one pending opt-out request."""
    entry = optouts.get_pending(conn, request_id)
    if entry is None or entry.details is None:
        raise ValueError(request_id)
    if action == "approve_optout":
        d = entry.details
        for selector in (
            selector_from(phone=d["phone"]),
            selector_from(linkedin=d["linkedin_url"]) if d.get("linkedin_url") else selector_from(
                first=d.get("first_name"), last=d.get("last_name"), company=d.get("company")
            ),
        ):
            erasure.erase(conn, selector, now=utcnow())
    optouts.decide(conn, request_id, "approved" if action == "approve_optout" else "rejected")
    audit.record(conn, token_id, action, f"#{request_id}")
    return {}


@router.post("/admin/actions")
async def admin_action(request: Request) -> Response:
    web = web_of(request)
    form = {key: form_text(value) for key, value in (await request.form()).items()}
    if not web.sessions.check_post(request, form.get(CSRF_FIELD)):
        return csrf_refused(web, request, None)
    token_id = await run_in_threadpool(operator_of, web, request)
    if token_id is None:
        return web.render(request, "admin_sign_in.html", {"error": None}, status_code=401)
    action = form.get("action", "")
    if action in DESTRUCTIVE and form.get("confirmed") != "yes":
        fields = {k: v for k, v in form.items() if k not in (CSRF_FIELD, "confirmed")}
        context = {"question": DESTRUCTIVE[action], "fields": fields}
        return web.render(request, "admin_confirm.html", context)

    def run() -> dict[str, Any]:
        with web.db.write() as conn:
            return _act(conn, token_id, action, form)

    shown: dict[str, Any]
    try:
        shown = await run_in_threadpool(run)
    except TrovaError as error:
        shown = {"error": error.message, "status": 400}
    except (ValueError, KeyError):
        shown = {"error": BAD_REQUEST, "status": 400}
    return await run_in_threadpool(lambda: _page(web, request, **shown))
