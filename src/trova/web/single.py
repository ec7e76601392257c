"""One search from a form (``/find``), and the "why" of an answer (a found row, or a single search).

A single search goes through the API's own path: ``batches.read_single`` validates it (the API's
400 texts), ``batches.submit`` reserves the credits, the workers answer it. "Why" shows the search's
normalised keys, the stored answer and the rule the finder applies to it now (``finder.explain``,
store only); the other people and numbers ``trova explain`` lists for an operator are not shown.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, RedirectResponse, Response

from trova.accounts.models import Account
from trova.batches import service as batches
from trova.batches.models import SearchRow
from trova.errors import ApiError
from trova.finder.explain import explain
from trova.jobs.notify import notify_work
from trova.web.auth import csrf_refused, current_account, form_text, not_found, to_sign_in
from trova.web.sessions import CSRF_FIELD
from trova.web.site import Web, web_of

router = APIRouter(include_in_schema=False)
FORM_FIELDS = ("linkedin_url", "first_name", "last_name", "company_name", "company_domain")


def why_of(web: Web, row: SearchRow) -> dict[str, Any]:
    """The keys of ``row``'s search, its stored answer and the deciding rule (as the finder sees now)."""
    search = batches.normalise(row.params)
    explanation = explain(web.db, search, nicknames=web.settings.nicknames)
    keys = {
        "linkedin_key": search.linkedin_key, "first_key": search.first_key, "last_key": search.last_key,
        "full_name_key": search.full_name_key, "company_domain": search.company_domain,
        "company_key": search.company_key,
    }
    return {"keys": {k: v for k, v in keys.items() if v}, "row": row,
            "rule": explanation.rule, "rule_text": explanation.rule_text}


@router.get("/find")
def find_page(request: Request) -> Response:
    web = web_of(request)
    account = current_account(web, request)
    if account is None:
        return to_sign_in()
    return web.render(request, "find.html", {"error": None, "values": {}}, account=account)


def _submit(web: Web, account: Account, params: dict[str, str]) -> str:
    submission = batches.read_single(params, web.settings)
    with web.db.write() as conn:
        submitted = batches.submit(conn, account, submission, web.settings)
    notify_work()
    return submitted.id


@router.post("/find")
async def find(request: Request) -> Response:
    web = web_of(request)
    account = await run_in_threadpool(current_account, web, request)
    if account is None:
        return to_sign_in()
    form = await request.form()
    if not web.sessions.check_post(request, form_text(form.get(CSRF_FIELD))):
        return csrf_refused(web, request, account)
    params = {name: form_text(form.get(name)).strip() for name in FORM_FIELDS}
    params = {name: value for name, value in params.items() if value}
    try:
        search_id = await run_in_threadpool(_submit, web, account, params)
    except ApiError as error:
        context = {"error": error.message, "values": params}
        return web.render(request, "find.html", context, status_code=error.status_code, account=account)
    return RedirectResponse(f"/find/{search_id}", status_code=303)


def _single(web: Web, account: Account, search_id: str) -> SearchRow | None:
    try:
        with web.db.read() as conn:
            return batches.get_single(conn, account, search_id)
    except ApiError:
        return None


@router.get("/find/{search_id}")
def single_page(request: Request, search_id: str) -> Response:
    web = web_of(request)
    account = current_account(web, request)
    if account is None:
        return to_sign_in()
    row = _single(web, account, search_id)
    if row is None:
        return not_found(web, request, account)
    why = why_of(web, row) if row.status == "done" else None
    context = {"row": row, "why": why, "search_id": search_id}
    return web.render(request, "single.html", context, account=account)


@router.get("/find/{search_id}/progress")
def single_progress(request: Request, search_id: str) -> Response:
    web = web_of(request)
    account = current_account(web, request)
    row = _single(web, account, search_id) if account is not None else None
    if row is None:
        return JSONResponse({"message": "Not found"}, status_code=404)
    status = "ongoing" if row.status != "done" else "completed"
    done = int(row.status == "done")
    found = int(row.qualification == "found")
    body = {"status": status, "requested": 1, "finished": done, "found": found, "percent": 100 * done}
    return JSONResponse(body, headers={"cache-control": "no-store"})
