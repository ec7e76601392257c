"""GET /healthz (liveness and database reachability) and GET /metrics (Prometheus).

The gauges of ``/metrics`` are set from the repositories' counts at each scrape, in one read
transaction; the request counters are kept by :class:`trova.api.middleware.MetricsMiddleware`.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Gauge, generate_latest
from starlette.concurrency import run_in_threadpool

from trova.api.deps import AppContext, Context
from trova.api.responses import JsonResponse
from trova.batches import repository as batches_repo
from trova.jobs import repository as jobs_repo
from trova.store.sql import ping

JOBS = Gauge("trova_jobs", "Jobs in the queue by status", ["status"])
BATCHES = Gauge("trova_batches", "Batches by status", ["status"])
SEARCHES_LEFT = Gauge("trova_searches_pending", "Searches accepted and not finished yet")

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
    return generate_latest(REGISTRY)


def _healthz(ctx: Context) -> dict[str, str]:
    with ctx.db.read() as conn:
        ping(conn)
    return {"status": "ok"}


@router.get("/healthz", summary="Liveness and database reachability")
async def healthz(ctx: AppContext) -> Response:
    return JsonResponse(await run_in_threadpool(_healthz, ctx))


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(ctx: AppContext) -> Response:
    payload = await run_in_threadpool(_metrics, ctx)
    return Response(payload, media_type=CONTENT_TYPE_LATEST)
