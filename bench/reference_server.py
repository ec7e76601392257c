"""The bare reference of ``bench/api_speed.py``: uvicorn + Starlette + sqlite3, nothing else.

It serves ``GET /phone/single`` and ``GET /account/info`` from Trova's own SQLite store (the same
file, so the same 100,000 searches): hash the key, read the account by its hash, read the batch by
id and account, then its search, answer JSON: the reads Trova does. ``/healthz`` answers at once.

    .venv/bin/python bench/reference_server.py DB_FILE PORT
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import sys
import threading

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

local = threading.local()
ACCOUNT = "SELECT id, sub_credits, paygo_credits, webhook_url FROM accounts WHERE key_hash = ?"
BATCH = "SELECT id, kind FROM batches WHERE id = ? AND account_id = ?"
SEARCH = "SELECT id, status, qualification, number, country, params FROM searches WHERE batch_id = ?"


def db() -> sqlite3.Connection:
    if not hasattr(local, "conn"):
        local.conn = sqlite3.connect(sys.argv[1], check_same_thread=False)
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
        Route("/account/info", info),
        Route("/healthz", healthz),
    ]
)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)
