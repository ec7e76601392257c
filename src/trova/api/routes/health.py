"""GET /healthz (the process answers), GET /readyz (it can do its work) and GET /metrics.

``/healthz`` touches nothing but the event loop, so a supervisor restarts only a process that is
truly stuck. ``/readyz`` is what a load balancer asks before sending traffic: the database answers
a read and takes a write (the probe row of ``readiness_probes``), the queue is moving (no job
queued for over ``TROVA_READY_QUEUE_STALL_S`` while nothing was claimed) and the schema is the one
this code expects. Failing, it answers 503 with ``Retry-After`` and the failing check's reason.

The gauges of ``/metrics`` are set from the repositories' counts at each scrape, in one read
transaction; the request counters are kept by :class:`trova.api.middleware.MetricsMiddleware`.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from functools import cache
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, Gauge
from sqlalchemy.exc import DBAPIError
from starlette.concurrency import run_in_threadpool

from trova.api import repository as api_repo
from trova.api import schemas
from trova.api.deps import AppContext, Context
from trova.api.logs import note_unavailable
from trova.api.responses import JsonResponse
from trova.batches import repository as batches_repo
from trova.errors import DatabaseUnavailable, ServiceUnavailable
from trova.jobs import repository as jobs_repo
from trova.metrics import exposition
from trova.store import utcnow
from trova.store.migrate import at_head, current_revision, head_revisions
from trova.store.sql import ping

JOBS = Gauge("trova_jobs", "Jobs in the queue by status", ["status"])
BATCHES = Gauge("trova_batches", "Batches by status", ["status"])
SEARCHES_LEFT = Gauge("trova_searches_pending", "Searches accepted and not finished yet")
READY_RETRY_AFTER_S = "5"

router = APIRouter()


def _metrics(ctx: Context) -> bytes:
    with ctx.db.read() as conn:
        job_counts = jobs_repo.count_active(conn)
        batch_counts = batches_repo.count_by_status(conn)
        left = batches_repo.searches_left(conn)
    for status in ("queued", "running"):
        JOBS.labels(status).set(job_counts.get(status, 0))
    for status in ("ongoing", "completed", "failed"):
        BATCHES.labels(status).set(batch_counts.get(status, 0))
    SEARCHES_LEFT.set(left)
    return exposition()


@cache
def _probe_name() -> str:
    return f"api:{socket.gethostname()}"[:64]


def _check(run: Callable[[], str | None]) -> str:
    """``ok``, or why not in a few words (a database that cannot serve is also logged)."""
    try:
        problem = run()
    except DatabaseUnavailable as error:
        note_unavailable(error)
        return f"database unavailable: {error.reason}"
    except DBAPIError as error:
        return f"database error: {type(error.orig).__name__}"
    return problem or "ok"


def _read(ctx: Context) -> None:
    with ctx.db.read() as conn:
        ping(conn)


def _write(ctx: Context) -> None:
    with ctx.db.write() as conn:
        api_repo.write_probe(conn, _probe_name(), utcnow())


def _queue(ctx: Context) -> str | None:
    stall_s = ctx.settings.ready_queue_stall_s
    with ctx.db.read() as conn:
        stalled = jobs_repo.queue_stalled(conn, utcnow(), stall_s)
    return f"a job has waited over {stall_s:g}s and none was claimed" if stalled else None


def _migrations(ctx: Context) -> str | None:
    if at_head(ctx.db):
        return None
    expected = ", ".join(sorted(head_revisions()))
    return f"database at {current_revision(ctx.db)}, this code expects {expected}"


def readiness(ctx: Context) -> dict[str, str]:
    """Each check of ``/readyz`` and its result: ``ok`` or the reason it failed (blocking)."""
    checks = {"read": _check(lambda: _read(ctx))}
    if checks["read"] != "ok":
        return checks
    checks["write"] = _check(lambda: _write(ctx))
    checks["queue"] = _check(lambda: _queue(ctx))
    checks["migrations"] = _check(lambda: _migrations(ctx))
    return checks


_HEALTHZ: dict[str, Any] = {
    "summary": "Liveness: the process answers (no database access)",
    "responses": {200: {"model": schemas.Health}},
}
_READYZ: dict[str, Any] = {
    "summary": "Readiness: database readable and writable, queue moving, schema current",
    "responses": {200: {"model": schemas.Readiness}, 503: {"model": schemas.NotReady}},
}


@router.get("/healthz", operation_id="healthz", **_HEALTHZ)
@router.head("/healthz", operation_id="healthz_head", **_HEALTHZ)
async def healthz() -> Response:
    return JsonResponse({"status": "ok", "pid": os.getpid()})


@router.get("/readyz", operation_id="readyz", **_READYZ)
@router.head("/readyz", operation_id="readyz_head", **_READYZ)
async def readyz(ctx: AppContext) -> Response:
    checks = await run_in_threadpool(readiness, ctx)
    if all(result == "ok" for result in checks.values()):
        return JsonResponse({"status": "ready", "checks": checks})
    return JsonResponse(
        {"message": ServiceUnavailable.message, "checks": checks},
        status_code=503,
        headers={"Retry-After": READY_RETRY_AFTER_S},
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(ctx: AppContext) -> Response:
    payload = await run_in_threadpool(_metrics, ctx)
    return Response(payload, media_type=CONTENT_TYPE_LATEST)
