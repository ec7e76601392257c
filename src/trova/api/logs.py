"""The log lines of ``trova serve`` and ``trova worker``: one format, a request id on each line.

Every line carries the id of the request being answered (``-`` outside one), read from
:data:`request_id_var`, which :class:`~trova.api.middleware.GuardMiddleware` sets. Lines are text
(``time LEVEL logger [request id]: message``) or, with ``TROVA_LOG_FORMAT=json``, one JSON object
each (``time``, ``level``, ``logger``, ``message``, ``request_id``, ``pid``, the fields a caller
passed as ``extra`` and ``traceback`` when there is one), for log collectors.

``trova.access`` is the access log: one line per answered request (method, path, status, time,
request id). The query string is logged with the values of parameters whose name holds ``key``
masked; headers (the API key among them) never are.

A database that cannot serve (:class:`~trova.errors.DatabaseUnavailable`) is one ERROR line saying
why (:func:`note_unavailable`), repeated at most every ``UNAVAILABLE_LOG_EVERY_S`` while it lasts, so
that a full disk does not fill what is left of it with the same line per request.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import sys
import threading
import time
from contextvars import ContextVar
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode

import orjson

from trova.errors import DatabaseBusy, DatabaseUnavailable

request_id_var: ContextVar[str] = ContextVar("trova_request_id", default="-")
"""The id of the request being answered (``-`` outside one)."""

access_log = logging.getLogger("trova.access")
log = logging.getLogger("trova.api")

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
UNAVAILABLE_LOG_EVERY_S = 10.0
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "request_id",
}


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every record as ``request_id`` (installed on the handler)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line (module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", request_id_var.get()),
            "pid": record.process,
        }
        line.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def configure_logging(level: str, log_format: Literal["text", "json"] = "text") -> None:
    """Send every log line to stderr, in ``log_format``, with the request id (module docstring)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)


_PLAIN_QUERY = re.compile(rb"[\w.~-]+=[\w.~-]*(?:&[\w.~-]+=[\w.~-]*)*", re.ASCII)
"""A query string that re-encoding would leave as it is: ``name=value`` pairs of unreserved bytes."""


def masked_query(query_string: bytes) -> str:
    """The query string with the values of ``*key*`` parameters replaced by ``****``."""
    if not query_string:
        return ""
    if b"key" not in query_string.lower() and _PLAIN_QUERY.fullmatch(query_string):
        return "?" + query_string.decode("ascii")  # what parsing and re-encoding would give
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    shown = [(name, "****" if "key" in name.lower() else value) for name, value in pairs]
    return "?" + urlencode(shown, safe="*")


def log_access(method: str, path: str, query_string: bytes, status: int, started: float) -> None:
    """The access line of one answered request (``trova.access``, INFO)."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    target = path + masked_query(query_string)
    access_log.info(
        "%s %s %s %.1fms",
        method,
        target,
        status,
        duration_ms,
        extra={"method": method, "path": target, "status": status, "duration_ms": duration_ms},
    )


_last_unavailable: dict[str, float] = {}
_unavailable_lock = threading.Lock()


def note_unavailable(error: DatabaseUnavailable) -> None:
    """Log why the database cannot serve, once per kind every ``UNAVAILABLE_LOG_EVERY_S``."""
    kind = "busy" if isinstance(error, DatabaseBusy) else "unavailable"
    now = time.monotonic()
    with _unavailable_lock:
        if now - _last_unavailable.get(kind, -UNAVAILABLE_LOG_EVERY_S) < UNAVAILABLE_LOG_EVERY_S:
            return
        _last_unavailable[kind] = now
    if kind == "busy":
        log.warning("database busy, answering 503 (lock held elsewhere): %s", error.reason)
    else:
        log.error("database unavailable, answering 503 (pid %s): %s", os.getpid(), error.reason)
