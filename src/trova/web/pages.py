"""Signing in and out, the home page and the language switch."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from trova.accounts import service as accounts
from trova.accounts.models import Account
from trova.errors import ApiError
from trova.web import searches, single
from trova.web.auth import csrf_refused, current_account, form_text, safe_next, to_sign_in
from trova.web.i18n import LANG_COOKIE, LOCALES
from trova.web.results import RunState, state_of
from trova.web.runs import Upload
from trova.web.sessions import CSRF_FIELD, Session
from trova.web.site import Web, web_of

router = APIRouter(include_in_schema=False)
router.include_router(searches.router)
router.include_router(single.router)

@router.get("/sign-in")
def sign_in_page(request: Request) -> Response:
    web = web_of(request)
    return web.render(request, "sign_in.html", {"error": None})


def _check_key(web: Web, api_key: str) -> Account:
    with web.db.read() as conn:
        return accounts.authenticate(conn, api_key, phone=False)


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    web = web_of(request)
    form = await request.form()
    if not web.sessions.check_post(request, form_text(form.get(CSRF_FIELD))):
        return csrf_refused(web, request, None)
    try:
        account = await run_in_threadpool(_check_key, web, form_text(form.get("api_key")).strip())
    except ApiError as error:
        return web.render(request, "sign_in.html", {"error": error.message}, status_code=401)
    response = RedirectResponse("/", status_code=303)
    web.sessions.start(request, response, Session(account.id, account.key_prefix))
    return response


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    web = web_of(request)
    form = await request.form()
    if not web.sessions.check_post(request, form_text(form.get(CSRF_FIELD))):
        return csrf_refused(web, request, None)
    response = RedirectResponse("/sign-in", status_code=303)
    web.sessions.end(request, response)
    return response


def _home_data(web: Web, account: Account) -> list[tuple[Upload, RunState]]:
    """The recent runs and their counters: kept in the run once it is over, read while it runs;
    a run whose batches were deleted since (retention, erasure) is left out."""
    shown = []
    with web.db.read() as conn:
        for upload in web.runs.recent(account.id):
            if upload.final is not None:
                shown.append((upload, RunState(**upload.final)))
                continue
            try:
                state = state_of(conn, account, upload)
            except ApiError:
                continue
            if state.status != "ongoing":
                upload.final = asdict(state)
                web.runs.save(account.id, upload)
            shown.append((upload, state))
    return shown


@router.get("/")
def home(request: Request) -> Response:
    web = web_of(request)
    account = current_account(web, request)
    if account is None:
        return to_sign_in()
    runs = _home_data(web, account)
    return web.render(request, "home.html", {"runs": runs}, account=account)


@router.post("/language")
async def language(request: Request) -> Response:
    web = web_of(request)
    form = await request.form()
    if not web.sessions.check_post(request, form_text(form.get(CSRF_FIELD))):
        return csrf_refused(web, request, None)
    response = RedirectResponse(safe_next(form_text(form.get("next"))), status_code=303)
    chosen = form_text(form.get("lang"))
    if chosen in LOCALES:
        response.set_cookie(
            LANG_COOKIE, chosen, max_age=365 * 86400, httponly=True, samesite="lax",
            secure=request.url.scheme == "https",
        )
    return response
