"""Who is signed in, and the answers every page gives to a stranger or a forged form."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from trova.accounts import service as accounts
from trova.accounts.models import Account
from trova.web.i18n import N_
from trova.web.site import Web

CSRF_REFUSED = N_("This form has expired or did not come from this site. Reload the page and try again.")


def current_account(web: Web, request: Request) -> Account | None:
    """The signed-in account; ``None`` without a session, or when its key was rotated since."""
    session = web.sessions.read(request)
    if session is None:
        return None
    with web.db.read() as conn:
        account = accounts.get_account(conn, session.account_id)
    if account is None or account.key_prefix != session.key_prefix:
        return None
    return account


def to_sign_in() -> RedirectResponse:
    return RedirectResponse("/sign-in", status_code=303)


def csrf_refused(web: Web, request: Request, account: Account | None) -> Response:
    return web.render(request, "error.html", {"message": CSRF_REFUSED}, status_code=403, account=account)


def safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def form_text(value: object) -> str:
    return value if isinstance(value, str) else ""


def not_found(web: Web, request: Request, account: Account | None) -> Response:
    return web.render(request, "error.html", {"message": NOT_FOUND}, status_code=404, account=account)


NOT_FOUND = N_("This page does not exist, or it belongs to another account.")

API_MESSAGES = (
    N_("This apikey is not valid"),
    N_("No apikey found in the x-api-key headers"),
    N_("Insufficient credits"),
    N_("Too many requests"),
    N_("Missing mandatory property"),
    N_("Invalid linkedin_url"),
)
"""The API's own refusals a page can show (signing in, running a search), for the catalogue."""
