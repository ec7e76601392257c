"""``/opt-out``: a person asks for their number to be removed, without an account.

The answer is the same whether or not Trova holds that person (nothing is looked up here: the
request waits for an operator). Requests are limited per IP address (a moving window in this
process) and a honeypot field that people never see drops what bots fill in; each stored request
is an audit row.
"""

from __future__ import annotations

import hashlib

from fastapi import APIRouter, Request
from limits import RateLimitItemPerHour
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from trova.erasure.selectors import selector_from
from trova.errors import TrovaError
from trova.privacy import operators as audit
from trova.privacy import optouts
from trova.web.auth import csrf_refused, form_text
from trova.web.i18n import N_
from trova.web.sessions import CSRF_FIELD
from trova.web.site import Web, web_of

router = APIRouter(include_in_schema=False)
FIELDS = ("linkedin_url", "first_name", "last_name", "company", "phone")
HONEYPOT = "website"
PER_IP = RateLimitItemPerHour(5)
_limiter = MovingWindowRateLimiter(MemoryStorage())

RECEIVED = N_(
    "Thank you. Your request was received: an operator will remove the number and make sure it is "
    "never returned again."
)
NEED_PHONE = N_("Give the phone number, and a LinkedIn URL or a first name, a last name and a company.")
TOO_MANY = N_("Too many requests from this address. Try again in an hour.")


def details_of(form: dict[str, str]) -> dict[str, str] | None:
    """The request's fields when they name a number and a person (checked with the erasure rules)."""
    details = {name: form.get(name, "").strip() for name in FIELDS}
    details = {name: value for name, value in details.items() if value}
    if "phone" not in details:
        return None
    try:
        selector_from(phone=details["phone"])
        if "linkedin_url" in details:
            selector_from(linkedin=details["linkedin_url"])
        else:
            selector_from(first=details.get("first_name"), last=details.get("last_name"),
                          company=details.get("company"))
    except TrovaError:
        return None
    return details


def _store(web: Web, details: dict[str, str]) -> None:
    with web.db.write() as conn:
        request_id = optouts.add(conn, details)
        audit.record(conn, None, "optout_request", f"#{request_id}")


@router.get("/opt-out")
def optout_page(request: Request) -> Response:
    web = web_of(request)
    return web.render(request, "optout.html", {"message": None, "error": None, "values": {}})


@router.post("/opt-out")
async def optout(request: Request) -> Response:
    web = web_of(request)
    form = {key: form_text(value) for key, value in (await request.form()).items()}
    if not web.sessions.check_post(request, form.get(CSRF_FIELD)):
        return csrf_refused(web, request, None)
    client = request.client.host if request.client else "unknown"
    if not _limiter.hit(PER_IP, "optout", hashlib.sha256(client.encode()).hexdigest()):
        return web.render(request, "optout.html", {"message": None, "error": TOO_MANY, "values": {}},
                          status_code=429)
    if form.get(HONEYPOT):
        return web.render(request, "optout.html", {"message": RECEIVED, "error": None, "values": {}})
    details = details_of(form)
    if details is None:
        context = {"message": None, "error": NEED_PHONE, "values": form}
        return web.render(request, "optout.html", context, status_code=400)
    await run_in_threadpool(_store, web, details)
    return web.render(request, "optout.html", {"message": RECEIVED, "error": None, "values": {}})
