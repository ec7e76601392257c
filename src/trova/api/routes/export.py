"""``GET /phone/bulk/export?id=&format=csv`` (extension): a bulk batch's results as a CSV download.

Authentication, the ``id`` checks and their texts are those of ``GET /phone/bulk``: another
account's batch is ``Bulk search not found``. The body is streamed: the rows are read in pages of
``PAGE_ROWS``, each in its own short read transaction (a slow download never holds one open), and
written as CSV page by page (:mod:`trova.batches.export`), so memory stays flat whatever the size.
A batch still running is exported as it stands, its unfinished searches ``pending``.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from trova.accounts.models import Account
from trova.api import schemas
from trova.api.deps import AppContext, Context, PhoneAccount, id_param
from trova.batches import lookups
from trova.batches import service as batches
from trova.batches.export import EXPORT_FORMATS, csv_blocks
from trova.batches.models import SearchRow
from trova.errors import BadRequest, BulkNotFound
from trova.store import Database

router = APIRouter()
PAGE_ROWS = 1000

EXPORT_PARAMS = {
    "parameters": [
        *schemas.ID_PARAM["parameters"],
        {"name": "format", "in": "query", "required": False,
         "schema": {"type": "string", "enum": list(EXPORT_FORMATS), "default": "csv"}},
    ]
}


def export_format(request: Request) -> str:
    value = request.query_params.get("format", "csv")
    if value not in EXPORT_FORMATS:
        raise BadRequest(f"Unknown format {value!r}: format must be {' or '.join(EXPORT_FORMATS)}")
    return value


def _batch_id(ctx: Context, account: Account, batch_id: str) -> str:
    with ctx.db.read() as conn:
        return batches.bulk_batch(conn, account, batch_id).id


def pages(db: Database, batch_id: str, size: int = PAGE_ROWS) -> Iterator[list[SearchRow]]:
    """The batch's searches in index order, ``size`` at a time, one read transaction per page."""
    after = -1
    while True:
        with db.read() as conn:
            page = lookups.result_page(conn, batch_id, after=after, limit=size)
        if page:
            yield page
        if len(page) < size:
            return
        after = page[-1].index


@router.get(
    "/phone/bulk/export",
    openapi_extra=EXPORT_PARAMS,
    summary="A batch's results as CSV, streamed (extension)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "The results, one row per search"},
               **schemas.ERRORS},
)
async def export_bulk(request: Request, ctx: AppContext, account: PhoneAccount) -> Response:
    batch_id = id_param(request)
    fmt = export_format(request)
    if batch_id is None:
        raise BulkNotFound()
    found_id = await run_in_threadpool(_batch_id, ctx, account, batch_id)
    return StreamingResponse(
        csv_blocks(pages(ctx.db, found_id)),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="trova-{found_id}.{fmt}"'},
    )
