"""The API's own logic: reading bodies, the POST rate limit and ``Idempotency-Key`` replays."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from limits import RateLimitItemPerSecond
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from prometheus_client import Counter
from sqlalchemy.engine import Connection

from trova.api import repository as repo
from trova.errors import BadRequest, IdempotencyConflict, InvalidJson, MissingPayload, RateLimited

log = logging.getLogger("trova.api")

STORAGE_RETRY_AFTER_S = 2.0
"""After a rate-limit storage failure, requests skip the storage (unchecked) for this long."""

RATE_LIMIT_STORAGE_ERRORS = Counter(
    "trova_rate_limit_storage_errors", "Rate-limit storage (Redis) calls that failed; the API failed open"
)
RATE_LIMIT_UNCHECKED = Counter(
    "trova_rate_limit_unchecked_requests", "POSTs let through unchecked because the rate-limit storage failed"
)

MAX_IDEMPOTENCY_KEY_LENGTH = 255


# --- bodies --------------------------------------------------------------------------------------


def is_json_content_type(content_type: str | None) -> bool:
    """JSON bodies only: ``application/json`` (any parameters), a ``+json`` type, or no header at all."""
    if content_type is None:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media in ("application/json", "") or media.endswith("+json")


DEFAULT_MAX_JSON_DEPTH = 64

_INT64_MIN, _UINT64_MAX = -(2**63), 2**64 - 1
_STRING_OR_INTEGER = re.compile(rb'"(?:[^"\\]|\\.)*"|(?<![0-9.eE+\\-])(-?[0-9]+)(?![0-9.eE])')
"""A JSON string (skipped) or an integer literal (group 1) in the raw text of a body."""


def parse_json_body(raw: bytes, content_type: str | None, max_depth: int = DEFAULT_MAX_JSON_DEPTH) -> Any:
    """The parsed body; ``Missing payload`` when empty, ``Invalid JSON input`` for anything unreadable.

    Also ``Invalid JSON input``: arrays and objects nested deeper than ``max_depth`` (whatever is
    accepted must be writable back, and orjson writes at most 254 levels), and an integer outside
    the 64-bit range, which would otherwise come back as a rounded float (docs/api.md §1).
    """
    if not raw.strip():
        raise MissingPayload()
    if not is_json_content_type(content_type):
        raise InvalidJson()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidJson() from exc
    if body is None:
        raise MissingPayload()
    shape = _shape(body, max_depth)
    if shape == "too deep" or (shape == "big float" and _has_big_integer(raw)):
        raise InvalidJson()
    return body


def _is_big_float(value: Any) -> bool:
    """A float that may be a big integer literal orjson rounded: integral, out of the 64-bit range."""
    return isinstance(value, float) and value.is_integer() and abs(value) >= 2**63


def _shape(body: Any, max_depth: int) -> str | None:
    """``"too deep"`` when arrays and objects nest deeper than ``max_depth``; else ``"big float"``
    when a float may be a rounded big integer (the raw text then decides); else None."""
    big_float = _is_big_float(body)
    stack: list[tuple[Any, int]] = [(body, 1)] if type(body) in _CONTAINERS else []
    while stack:
        value, depth = stack.pop()
        children: Any = value.values() if type(value) is dict else value
        if depth > max_depth:
            return "too deep"
        for child in children:
            kind = type(child)
            if kind in _CONTAINERS:
                stack.append((child, depth + 1))
            elif kind is float and _is_big_float(child):
                big_float = True
    return "big float" if big_float else None


_CONTAINERS = frozenset({dict, list})
"""What orjson parses arrays and objects into (those very types: compared by ``type``, a 3,000-search
body's every value is looked at)."""


def _has_big_integer(raw: bytes) -> bool:
    """True when the text holds an integer literal that does not fit in 64 bits."""
    for match in _STRING_OR_INTEGER.finditer(raw):
        digits = match.group(1)
        if digits is not None and len(digits) >= 19 and not _INT64_MIN <= int(digits) <= _UINT64_MAX:
            return True
    return False


# --- rate limit ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    reset_at: float
    """Unix time when a request will be accepted again (window start + window)."""
    limit: int
    remaining: int
    """Requests still accepted in the current window (0 once refused)."""

    def headers(self, now: float) -> dict[str, str]:
        """``X-RateLimit-Limit``, ``-Remaining`` and ``-Reset`` (whole seconds until the window has
        room again, at least 1: Enrow's Python and JS SDKs hand it to their users as the wait), and
        ``Retry-After`` (the same seconds) on a refusal."""
        wait_s = str(max(1, math.ceil(self.reset_at - now)))
        found = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": wait_s,
        }
        return found if self.allowed else {"Retry-After": wait_s, **found}


class RateLimiter:
    """POSTs per API key: ``per_window`` requests in any moving window of ``window_s`` seconds.

    The storage is a ``limits`` storage URI: ``memory://`` (one process, the default) or, for
    several processes behind one address, a shared ``redis://…`` (``TROVA_REDIS_URL``).

    A shared storage that fails (Redis down, timeout) never fails a request: the request is let
    through unchecked (*fail open*), the failure is logged and counted in ``/metrics``, and the
    storage is left alone for :data:`STORAGE_RETRY_AFTER_S` so a dead Redis costs each request
    nothing instead of a connect timeout.
    """

    def __init__(
        self,
        per_window: int,
        window_s: int = 1,
        storage_uri: str = "memory://",
        *,
        timeout_s: float = 0.25,
        key_prefix: str = "trova",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._item = RateLimitItemPerSecond(per_window, window_s)
        self._storage_uri = storage_uri
        options = _storage_options(storage_uri, timeout_s, key_prefix)
        self._storage = storage_from_string(storage_uri, **options)
        self._limiter = MovingWindowRateLimiter(self._storage)
        self._clock = clock
        self._lock = threading.Lock()
        self._skip_until: float | None = None

    def hit(self, key: str) -> RateDecision:
        """Count one request for ``key``; an unavailable storage lets it through (see the class)."""
        limit = self._item.amount
        if self._storage_skipped():
            RATE_LIMIT_UNCHECKED.inc()
            return RateDecision(allowed=True, reset_at=time.time(), limit=limit, remaining=limit)
        try:
            allowed = self._limiter.hit(self._item, key)
            reset_at, remaining = self._limiter.get_window_stats(self._item, key)
        except StorageError as error:
            self._storage_failed(error)
            RATE_LIMIT_UNCHECKED.inc()
            return RateDecision(allowed=True, reset_at=time.time(), limit=limit, remaining=limit)
        self._storage_answered()
        return RateDecision(
            allowed=allowed, reset_at=float(reset_at), limit=limit, remaining=max(0, remaining)
        )

    @property
    def in_process(self) -> bool:
        """True when the counts live in this process (``memory://``): counting never waits on I/O."""
        return self._storage_uri.startswith("memory://")

    def check(self, key: str, clock: Callable[[], float] = time.time) -> dict[str, str]:
        """Count one request for ``key``: the rate-limit headers for its answer, or 429 with them."""
        decision = self.hit(key)
        headers = decision.headers(clock())
        if not decision.allowed:
            raise RateLimited(headers=headers)
        return headers

    def close(self) -> None:
        """Close the storage's connections (a Redis client's pool); a no-op for memory."""
        client = getattr(self._storage, "storage", None)
        close = getattr(client, "close", None)
        if callable(close):
            close()

    def _storage_skipped(self) -> bool:
        with self._lock:
            return self._skip_until is not None and self._clock() < self._skip_until

    def _storage_failed(self, error: StorageError) -> None:
        RATE_LIMIT_STORAGE_ERRORS.inc()
        with self._lock:
            first = self._skip_until is None
            self._skip_until = self._clock() + STORAGE_RETRY_AFTER_S
        if first:
            log.warning(
                "rate-limit storage %s unavailable (%s): POSTs are not rate limited until it is back",
                redacted_uri(self._storage_uri),
                error,
            )

    def _storage_answered(self) -> None:
        with self._lock:
            recovered = self._skip_until is not None
            self._skip_until = None
        if recovered:
            log.warning(
                "rate-limit storage %s is back: POST limits apply again", redacted_uri(self._storage_uri)
            )


def _storage_options(storage_uri: str, timeout_s: float, key_prefix: str) -> dict[str, Any]:
    """Short socket timeouts and wrapped errors for a networked storage (nothing for memory)."""
    if storage_uri.startswith("memory"):
        return {}
    return {
        "wrap_exceptions": True,
        "key_prefix": key_prefix,
        "socket_timeout": timeout_s,
        "socket_connect_timeout": timeout_s,
    }


def redacted_uri(uri: str) -> str:
    """``uri`` without its password, for logs."""
    scheme, sep, rest = uri.partition("://")
    if "@" not in rest:
        return uri
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}" if ":" in credentials else f"{scheme}{sep}{credentials}@{host}"


# --- idempotency ---------------------------------------------------------------------------------


def request_fingerprint(path: str, raw_body: bytes) -> str:
    """What "the same request" means for a replay: the same endpoint and byte-identical body."""
    return hashlib.sha256(path.encode() + b"\n" + raw_body).hexdigest()


def check_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not key or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise BadRequest(f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters")
    return key


def replay(
    conn: Connection, account_id: int, key: str, fingerprint: str, *, now: dt.datetime, ttl_s: int
) -> tuple[int, Any] | None:
    """The first response for this key if it is still fresh; 409 if the key came with another body.

    An expired record is deleted so the key can be used again.
    """
    stored = repo.get_response(conn, account_id, key)
    if stored is None:
        return None
    if stored.created_at < now - dt.timedelta(seconds=ttl_s):
        repo.delete_response(conn, account_id, key)
        return None
    if stored.request_hash != fingerprint:
        raise IdempotencyConflict()
    return stored.status_code, stored.body


def remember(
    conn: Connection,
    account_id: int,
    key: str,
    fingerprint: str,
    status_code: int,
    body: Any,
    *,
    now: dt.datetime,
) -> None:
    """Record the response in the transaction that created what it describes."""
    repo.save_response(
        conn, account_id, key, request_hash=fingerprint, status_code=status_code, body=body, now=now
    )


def forget_expired(conn: Connection, *, now: dt.datetime, ttl_s: int) -> int:
    return repo.delete_older_than(conn, now - dt.timedelta(seconds=ttl_s))


class UnauthGuard:
    """Requests without a key or with a wrong one, per client address: at most ``per_s`` a second
    (``TROVA_RATE_LIMIT_UNAUTH_PER_S``), counted by a :class:`RateLimiter` (shared through Redis
    when configured); past it, 429 with ``Retry-After``.

    Only failed authentications are counted, so a client with a valid key costs nothing here. An
    address refused once is remembered in this process until its window has room again, and every
    request from it, any key, is refused at once (a dictionary lookup: no database, no Redis), so
    a key guesser gets nothing for its guesses but 429s.
    """

    def __init__(self, limiter: RateLimiter, clock: Callable[[], float] = time.time) -> None:
        self._limiter = limiter
        self._clock = clock
        self._blocked: dict[str, tuple[float, dict[str, str]]] = {}
        self._lock = threading.Lock()

    def refuse_if_blocked(self, address: str) -> None:
        """429 when ``address`` was refused and its window has no room yet."""
        if not self._blocked:
            return
        with self._lock:
            entry = self._blocked.get(address)
            if entry is not None and entry[0] <= self._clock():
                del self._blocked[address]
                entry = None
        if entry is not None:
            raise RateLimited(headers={"Retry-After": entry[1]["Retry-After"]})

    def count_failure(self, address: str) -> None:
        """Count one failed authentication of ``address``; 429 past the limit."""
        decision = self._limiter.hit(f"unauth:{address}")
        if decision.allowed:
            return
        headers = decision.headers(self._clock())
        with self._lock:
            self._blocked[address] = (self._clock() + float(headers["Retry-After"]), headers)
        raise RateLimited(headers=headers)

    def close(self) -> None:
        self._limiter.close()
