"""New search (upload), preview (mapping, counts, cost), run, the search page, progress, downloads."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response, StreamingResponse

from trova.accounts.models import Account
from trova.batches import service as batches
from trova.bulk.tabular import SEARCH_FIELDS
from trova.errors import ApiError
from trova.jobs.notify import notify_work
from trova.web import leads, results
from trova.web.auth import csrf_refused, current_account, form_text, not_found, to_sign_in
from trova.web.i18n import N_
from trova.web.leads import LeadsError, Preview
from trova.web.runs import Upload
from trova.web.sessions import CSRF_FIELD
from trova.web.single import why_of
from trova.web.site import Web, web_of

router = APIRouter(include_in_schema=False)
PER_PAGE = 50
FIELD_CHOICES = ("", *SEARCH_FIELDS)
FIELD_LABELS = {
    "": N_("(not used)"),
    "linkedin_url": N_("LinkedIn URL"),
    "first_name": N_("First name"),
    "last_name": N_("Last name"),
    "full_name": N_("Full name"),
    "company_name": N_("Company name"),
    "company_domain": N_("Company domain"),
}


@router.get("/searches/new")
def new_search(request: Request) -> Response:
    web = web_of(request)
    account = current_account(web, request)
    if account is None:
        return to_sign_in()
    return web.render(request, "new.html", {"error": None, "limit": web.settings.web_max_upload_bytes},
                      account=account)


async def _drain(request: Request) -> None:
    async for _chunk in request.stream():
        pass


@router.post("/searches/new")
async def upload(request: Request) -> Response:
    web = web_of(request)
    account = await run_in_threadpool(current_account, web, request)
    if account is None:
        return to_sign_in()
    limit = web.settings.web_max_upload_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + 64 * 1024:
        await _drain(request)
        return _refuse(web, request, account, leads.TOO_LARGE, 413)
    form = await request.form(max_files=1, max_fields=4)
    if not web.sessions.check_post(request, form_text(form.get(CSRF_FIELD))):
        return csrf_refused(web, request, account)
    file = form.get("leads")
    if not isinstance(file, UploadFile) or not file.filename:
        return _refuse(web, request, account, leads.EMPTY, 400)
    upload_id, folder = web.runs.new_folder(account.id)
    stored = leads.stored_name(file.filename)

    async def chunks() -> Any:
        while chunk := await file.read(leads.CHUNK_BYTES):
            yield chunk

    try:
        await leads.save_stream(chunks(), folder / stored, limit)
        entry = Upload(upload_id, Path(file.filename).name[:200], stored, dt.datetime.now(dt.UTC).isoformat())
        await run_in_threadpool(_check_file, web, account, entry)
    except LeadsError as error:
        return _refuse(web, request, account, error.message, 413 if error.message == leads.TOO_LARGE else 400)
    return RedirectResponse(f"/searches/uploads/{upload_id}", status_code=303)


def _check_file(web: Web, account: Account, entry: Upload) -> None:
    leads.open_table(web.runs.input_path(account.id, entry)).scan_columns()
    web.runs.save(account.id, entry)


def _refuse(web: Web, request: Request, account: Account, message: str, status: int) -> Response:
    context = {"error": message, "limit": web.settings.web_max_upload_bytes}
    return web.render(request, "new.html", context, status_code=status, account=account)


def _preview(web: Web, account: Account, entry: Upload, mapping: dict[str, str] | None) -> Preview:
    table = leads.open_table(web.runs.input_path(account.id, entry))
    return leads.preview(table, mapping, leads.batch_size(web.settings.max_searches_per_batch))


def _preview_page(
    web: Web, request: Request, account: Account, entry: Upload, preview: Preview,
    error: str | None = None, status: int = 200,
) -> Response:
    context = {
        "upload": entry, "preview": preview, "choices": FIELD_CHOICES, "labels": FIELD_LABELS, "error": error,
        "max_cost": preview.searches * web.settings.price_per_phone,
    }
    return web.render(request, "preview.html", context, status_code=status, account=account)


@router.get("/searches/uploads/{upload_id}")
def preview_page(request: Request, upload_id: str) -> Response:
    web = web_of(request)
    account = current_account(web, request)
    if account is None:
        return to_sign_in()
    entry = web.runs.get(account.id, upload_id)
    if entry is None:
        return not_found(web, request, account)
    if entry.batch_ids:
        return RedirectResponse(f"/searches/{entry.batch_ids[0]}", status_code=303)
    preview = _preview(web, account, entry, entry.mapping)
    return _preview_page(web, request, account, entry, preview)


@router.post("/searches/uploads/{upload_id}")
async def preview_action(request: Request, upload_id: str) -> Response:
    web = web_of(request)
    account = await run_in_threadpool(current_account, web, request)
    if account is None:
        return to_sign_in()
    form = await request.form()
    if not web.sessions.check_post(request, form_text(form.get(CSRF_FIELD))):
        return csrf_refused(web, request, account)
    entry = web.runs.get(account.id, upload_id)
    if entry is None or entry.batch_ids:
        return not_found(web, request, account)
    action = form_text(form.get("action"))
    return await run_in_threadpool(_act, web, request, account, entry, dict(form), action)


def _act(
    web: Web, request: Request, account: Account, entry: Upload, form: dict[str, Any], action: str
) -> Response:
    table = leads.open_table(web.runs.input_path(account.id, entry))
    columns = table.scan_columns()
    wanted = {column: form_text(form.get(f"map_{i}")) for i, column in enumerate(columns)}
    entry.mapping = leads.clean_mapping(columns, wanted)
    web.runs.save(account.id, entry)
    preview = leads.preview(table, entry.mapping, leads.batch_size(web.settings.max_searches_per_batch))
    if action != "run":
        return _preview_page(web, request, account, entry, preview)
    if not preview.usable_mapping:
        return _preview_page(web, request, account, entry, preview, leads.NO_COLUMN, 400)
    if not preview.searches:
        return _preview_page(web, request, account, entry, preview, leads.NOTHING_TO_FIND, 400)
    try:
        _run(web, account, entry, preview)
    except ApiError as error:
        return _preview_page(web, request, account, entry, preview, error.message, error.status_code)
    return RedirectResponse(f"/searches/{entry.batch_ids[0]}", status_code=303)


def _run(web: Web, account: Account, entry: Upload, preview: Preview) -> None:
    """Submit every batch of the plan in one transaction (all are paid for, or none)."""
    plan = preview.plan
    submissions = [
        batches.read_bulk(
            {"searches": plan.chunk_searches(chunk), "custom": {"web_upload": entry.id}}, web.settings
        )
        for chunk in range(plan.chunk_count)
    ]
    with web.db.write() as conn:
        ids = [batches.submit(conn, account, submission, web.settings).id for submission in submissions]
    entry.batch_ids, entry.batch_size = ids, plan.batch_size
    entry.rows, entry.searches, entry.invalid = plan.rows, len(plan.searches), plan.unusable_rows
    entry.reasons = list(plan.reasons)
    web.runs.save_codes(account.id, entry, plan.codes)
    web.runs.save(account.id, entry)
    web.runs.link_batches(account.id, entry)
    notify_work()


def _owned(web: Web, request: Request, batch_id: str) -> tuple[Account | None, Upload | None]:
    account = current_account(web, request)
    if account is None:
        return None, None
    return account, web.runs.by_batch(account.id, batch_id)


@router.get("/searches/{batch_id}")
def search_page(request: Request, batch_id: str) -> Response:
    web = web_of(request)
    account, entry = _owned(web, request, batch_id)
    if account is None:
        return to_sign_in()
    if entry is None:
        return not_found(web, request, account)
    wanted = request.query_params.get("show", "all")
    show: results.RowFilter = next((name for name in results.FILTERS if name == wanted), "all")
    asked = request.query_params.get("page", "1")
    page = max(int(asked), 1) if asked.isdigit() and len(asked) < 9 else 1
    with web.db.read() as conn:
        try:
            state = results.state_of(conn, account, entry)
        except ApiError:
            return not_found(web, request, account)
        answers = results.answers_of(conn, account, entry) if state.status != "ongoing" else {}
    table = leads.open_table(web.runs.input_path(account.id, entry))
    codes = web.runs.codes(account.id, entry)
    shown, total = results.page_of(table, codes, entry, answers, show, page, PER_PAGE)
    context = {
        "upload": entry, "state": state, "batch_id": entry.batch_ids[0], "columns": table.columns,
        "rows": shown, "total": total, "page": page, "pages": max(1, -(-total // PER_PAGE)),
        "show": show, "filters": results.FILTERS,
    }
    return web.render(request, "search.html", context, account=account)


@router.get("/searches/{batch_id}/progress")
def progress(request: Request, batch_id: str) -> Response:
    web = web_of(request)
    account, entry = _owned(web, request, batch_id)
    if account is None or entry is None:
        return JSONResponse({"message": "Not found"}, status_code=404)
    with web.db.read() as conn:
        state = results.state_of(conn, account, entry)
    body = {"status": state.status, "requested": state.requested, "finished": state.finished,
            "found": state.found, "percent": state.percent}
    return JSONResponse(body, headers={"cache-control": "no-store"})


def _download_rows(web: Web, account: Account, entry: Upload) -> tuple[Any, Any]:
    with web.db.read() as conn:
        answers = results.answers_of(conn, account, entry)
    table = leads.open_table(web.runs.input_path(account.id, entry))
    return table, results.result_rows(table, web.runs.codes(account.id, entry), entry, answers)


def _download_name(entry: Upload, suffix: str) -> str:
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(entry.filename).stem)[:80]
    return f"{stem or 'leads'}-phones.{suffix}"


@router.get("/searches/{batch_id}/results.csv")
def download_csv(request: Request, batch_id: str) -> Response:
    web = web_of(request)
    account, entry = _owned(web, request, batch_id)
    if account is None:
        return to_sign_in()
    if entry is None:
        return not_found(web, request, account)
    table, rows = _download_rows(web, account, entry)
    disposition = f'attachment; filename="{_download_name(entry, "csv")}"'
    return StreamingResponse(results.csv_lines(table, rows), media_type="text/csv; charset=utf-8",
                             headers={"content-disposition": disposition})


@router.get("/searches/{batch_id}/results.xlsx")
def download_xlsx(request: Request, batch_id: str) -> Response:
    web = web_of(request)
    account, entry = _owned(web, request, batch_id)
    if account is None:
        return to_sign_in()
    if entry is None:
        return not_found(web, request, account)
    table, rows = _download_rows(web, account, entry)
    handle = tempfile.NamedTemporaryFile(suffix=".xlsx", delete=False)  # noqa: SIM115
    handle.close()
    dest = Path(handle.name)
    results.write_xlsx(table, rows, dest)
    return FileResponse(
        dest, filename=_download_name(entry, "xlsx"),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        background=BackgroundTask(dest.unlink, missing_ok=True),
    )


@router.get("/searches/{batch_id}/why/{position}")
def why_page(request: Request, batch_id: str, position: int) -> Response:
    """Why row ``position`` (0-based, in file order) of a run got its number."""
    web = web_of(request)
    account, entry = _owned(web, request, batch_id)
    if account is None:
        return to_sign_in()
    codes = web.runs.codes(account.id, entry) if entry is not None else None
    if entry is None or codes is None or not 0 <= position < len(codes) or codes[position] < 0:
        return not_found(web, request, account)
    with web.db.read() as conn:
        row = results.answers_of(conn, account, entry).get(codes[position])
    if row is None or row.status != "done":
        return not_found(web, request, account)
    context = {"upload": entry, "batch_id": entry.batch_ids[0], "line": position + 2, "why": why_of(web, row)}
    return web.render(request, "why_row.html", context, account=account)
