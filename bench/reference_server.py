"""The bare reference of ``bench/api_speed.py``: uvicorn + Starlette + sqlite3, nothing else.

It serves ``GET /phone/single`` and ``GET /account/info`` from Trova's own SQLite store (the same
file, so the same 100,000 searches): hash the key, read the account by its hash, read the batch by
id and account, then its search, answer JSON: the reads Trova does. ``/healthz`` answers at once.
``POST /phone/single`` does the writes Trova's POST must do and nothing else: read the account, take
one credit from it, insert the batch, its search and its queued job, commit (nobody resolves them:
the mixed-traffic point runs it on a copy of the store).

    .venv/bin/python bench/reference_server.py DB_FILE PORT [PROCESSES]
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import sqlite3
import sys
import threading
import uuid

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

local = threading.local()
ACCOUNT = "SELECT id, sub_credits, paygo_credits, webhook_url FROM accounts WHERE key_hash = ?"
BATCH = "SELECT id, kind FROM batches WHERE id = ? AND account_id = ?"
SEARCH = "SELECT id, status, qualification, number, country, params FROM searches WHERE batch_id = ?"
TAKE = "UPDATE accounts SET sub_credits = sub_credits - 1 WHERE id = ? AND sub_credits >= 1"
NEW_BATCH = (
    "INSERT INTO batches (id, account_id, kind, status, has_custom, requested, finished, price,"
    " reserved_sub, reserved_paygo, created_at) VALUES (?, ?, 'single', 'running', 0, 1, 0, 1, 1, 0, ?)"
)
NEW_SEARCH = (
    "INSERT INTO searches (id, batch_id, idx, params, has_custom, status, charged, reserved_sub,"
    " reserved_paygo) VALUES (?, ?, 0, ?, 0, 'pending', 0, 1, 0)"
)
NEW_JOB = (
    "INSERT INTO jobs (batch_id, kind, first_idx, last_idx, size, status, attempts, created_at)"
    " VALUES (?, 'resolve', 0, 0, 1, 'queued', 0, ?)"
)


def db() -> sqlite3.Connection:
    if not hasattr(local, "conn"):
        local.conn = sqlite3.connect(os.environ["REFERENCE_DB"], check_same_thread=False, timeout=30)
        local.conn.execute("PRAGMA synchronous=NORMAL")  # as Trova's own connections
    conn: sqlite3.Connection = local.conn
    return conn


def account(request: Request) -> tuple[int, int, int, str | None] | None:
    digest = hashlib.sha256(request.headers.get("x-api-key", "").encode()).hexdigest()
    row: tuple[int, int, int, str | None] | None = db().execute(ACCOUNT, (digest,)).fetchone()
    return row


def single(request: Request) -> JSONResponse:
    found = account(request)
    if found is None:
        return JSONResponse({"message": "Invalid API key"}, 401)
    batch = db().execute(BATCH, (request.query_params.get("id", ""), found[0])).fetchone()
    row = db().execute(SEARCH, (batch[0],)).fetchone() if batch and batch[1] == "single" else None
    if row is None:
        return JSONResponse({"message": "Search not found"}, 404)
    body = {"id": row[0], "params": json.loads(row[5] or "{}"), "qualification": row[2], "number": row[3]}
    return JSONResponse(body, 200 if row[1] == "done" else 202)


async def post_single(request: Request) -> JSONResponse:
    body = await request.body()
    return await run_in_threadpool(store_search, request, body)


def store_search(request: Request, body: bytes) -> JSONResponse:
    found = account(request)
    if found is None:
        return JSONResponse({"message": "Invalid API key"}, 401)
    params = json.dumps(json.loads(body))
    search_id, now = str(uuid.uuid4()), dt.datetime.now(dt.UTC).isoformat(" ")
    conn = db()
    conn.execute("BEGIN IMMEDIATE")
    try:
        if conn.execute(TAKE, (found[0],)).rowcount != 1:
            conn.rollback()
            return JSONResponse({"message": "Not enough credits"}, 402)
        conn.execute(NEW_BATCH, (search_id, found[0], now))
        conn.execute(NEW_SEARCH, (search_id, search_id, params))
        conn.execute(NEW_JOB, (search_id, now))
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return JSONResponse({"id": search_id}, 201)


def info(request: Request) -> JSONResponse:
    found = account(request)
    if found is None:
        return JSONResponse({"message": "Invalid API key"}, 401)
    detail = {"sub": found[1], "paygo": found[2]}
    webhooks = [found[3]] if found[3] else []
    return JSONResponse({"credits": found[1] + found[2], "webhooks": webhooks, "credits_detail": detail})


async def healthz(_request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


app = Starlette(
    routes=[
        Route("/phone/single", single),
        Route("/phone/single", post_single, methods=["POST"]),
        Route("/account/info", info),
        Route("/healthz", healthz),
    ]
)

if __name__ == "__main__":
    os.environ["REFERENCE_DB"] = sys.argv[1]
    processes = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    target = "reference_server:app" if processes > 1 else app
    uvicorn.run(
        target,
        host="127.0.0.1",
        port=int(sys.argv[2]),
        workers=processes,
        app_dir=os.path.dirname(__file__),
        log_level="warning",
        access_log=False,
    )
