"""What the sync and async clients share: configuration, request building, answer parsing, retries.

The two clients only move bytes and sleep; every decision (what to send, whether to retry, how long
to wait, which exception to raise) is made here, once, without I/O.
"""

from __future__ import annotations

import email.utils
import os
import random
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

import httpx
import orjson

from trova.client.errors import (
    ApiError,
    AuthenticationError,
    ClientError,
    InsufficientCreditsError,
    NotFoundError,
    RateLimitError,
    TransportError,
    WaitTimeout,
)
from trova.client.models import (
    AccountInfo,
    Bulk,
    Json,
    MalformedResponse,
    PhoneResult,
    Submission,
    parse_account,
    parse_bulk,
    parse_result,
    parse_submission,
)

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
USER_AGENT = "trova-client/0.1"
IDEMPOTENCY_HEADER = "Idempotency-Key"
HOSTS_WITHOUT_IDEMPOTENCY = frozenset({"api.enrow.io"})
RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry a 429, a 5xx or a lost connection.

    A 429 honours ``Retry-After`` (capped at ``max_retry_after_s`` so a confused server cannot park a
    client for hours); everything else backs off exponentially with full jitter, so that many clients
    retrying at once do not hit the server in lock step.
    """

    max_attempts: int = 8
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0
    max_retry_after_s: float = 120.0

    def delay_s(self, attempt: int, retry_after_s: float | None) -> float:
        if retry_after_s is not None:
            return min(max(retry_after_s, 0.0), self.max_retry_after_s)
        return random.uniform(0.0, min(self.backoff_cap_s, self.backoff_base_s * 2**attempt))


@dataclass(frozen=True, slots=True)
class Config:
    """Resolved connection settings of one client."""

    api_key: str | None
    base_url: str
    timeout_s: float
    retry: RetryPolicy
    retry_unsafe_posts: bool

    @property
    def headers(self) -> dict[str, str]:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if self.api_key:
            headers["x-api-key"] = self.api_key
        return headers


def resolve_config(
    api_key: str | None, base_url: str | None, timeout_s: float, retry: RetryPolicy | None,
    retry_unsafe_posts: bool | None,
) -> Config:
    """Arguments first, then ``TROVA_API_KEY`` / ``TROVA_BASE_URL``, then the local default server.

    The client reads these two variables itself rather than through ``trova.settings``: it is used
    on machines that run no server and must not pick up a server's ``trova.toml``.

    POSTs that failed after they may have reached the server (5xx, lost answer) are retried only
    when the server honours ``Idempotency-Key`` (Trova does; Enrow ignores it, so there such a retry
    could create a second search): ``retry_unsafe_posts=None`` decides by host.
    """
    url = (base_url or os.environ.get("TROVA_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    if retry_unsafe_posts is None:
        retry_unsafe_posts = (urlsplit(url).hostname or "").lower() not in HOSTS_WITHOUT_IDEMPOTENCY
    return Config(
        api_key=api_key or os.environ.get("TROVA_API_KEY") or None,
        base_url=url,
        timeout_s=timeout_s,
        retry=retry or RetryPolicy(),
        retry_unsafe_posts=retry_unsafe_posts,
    )


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One logical API call: the request and how to read its successful answer."""

    method: str
    path: str
    parse: Callable[[Json], T]
    params: Mapping[str, str] | None = None
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def content(self) -> bytes | None:
        return None if self.body is None else orjson.dumps(self.body)

    def request_headers(self, config: Config) -> dict[str, str]:
        headers = {**config.headers, **self.headers}
        if self.body is not None:
            headers["Content-Type"] = "application/json"
        return headers


def new_idempotency_key() -> str:
    """A fresh ``Idempotency-Key``: the same key sent again makes the server answer the same batch."""
    return str(uuid.uuid4())


def _post(path: str, body: Any, parse: Callable[[Json], T], idempotency_key: str | None) -> Call[T]:
    return Call("POST", path, parse, body=body,
                headers={IDEMPOTENCY_HEADER: idempotency_key or new_idempotency_key()})


def _with_webhook(body: dict[str, Any], webhook: str | None) -> dict[str, Any]:
    if webhook:
        body["settings"] = {"webhook": webhook}
    return body


def find_call(
    search: Mapping[str, Any], webhook: str | None, idempotency_key: str | None
) -> Call[Submission]:
    return _post("/phone/single", _with_webhook(dict(search), webhook), parse_submission, idempotency_key)


def get_single_call(search_id: str) -> Call[PhoneResult]:
    return Call("GET", "/phone/single", parse_result, params={"id": search_id})


def submit_bulk_call(
    searches: Sequence[Mapping[str, Any]], custom: Mapping[str, Any] | None, webhook: str | None,
    idempotency_key: str | None,
) -> Call[Submission]:
    body: dict[str, Any] = {"searches": [dict(s) for s in searches]}
    if custom is not None:
        body["custom"] = dict(custom)
    return _post("/phone/bulk", _with_webhook(body, webhook), parse_submission, idempotency_key)


def get_bulk_call(bulk_id: str) -> Call[Bulk]:
    return Call("GET", "/phone/bulk", parse_bulk, params={"id": bulk_id})


def list_bulks_call(limit: int, before: str | None) -> Call[Json]:
    params = {"limit": str(limit)}
    if before:
        params["before"] = before
    return Call("GET", "/phone/bulks", dict, params=params)


def account_call() -> Call[AccountInfo]:
    return Call("GET", "/account/info", parse_account)


def explain_call(search_id: str) -> Call[dict[str, Any]]:
    return Call("GET", "/phone/single/explain", dict, params={"id": search_id})


@dataclass(frozen=True, slots=True)
class Retry:
    delay_s: float
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Done(Generic[T]):
    value: T


class Exchange(Generic[T]):
    """The retry state machine of one :class:`Call`: feed it each answer or failure, obey what it says."""

    def __init__(self, call: Call[T], config: Config) -> None:
        self.call = call
        self.config = config
        self.attempt = 0

    @property
    def _may_resend(self) -> bool:
        return self.call.method == "GET" or self.config.retry_unsafe_posts

    def _retry_or(self, error: ClientError, retry_after_s: float | None = None) -> Retry:
        self.attempt += 1
        if self.attempt >= self.config.retry.max_attempts:
            raise error
        return Retry(self.config.retry.delay_s(self.attempt, retry_after_s), str(error))

    def on_response(self, response: httpx.Response) -> Retry | Done[T]:
        status = response.status_code
        if 200 <= status < 300:
            return Done(self._parse(response))
        error = error_for(status, response.content, response.headers)
        if status == 429:
            return self._retry_or(error, retry_after_seconds(response.headers))
        if status in RETRIED_STATUSES and self._may_resend:
            return self._retry_or(error, retry_after_seconds(response.headers))
        raise error

    def on_transport_error(self, exc: httpx.TransportError) -> Retry:
        """Timeouts and lost connections are retried; a refused connection (nothing listens there, or
        a wrong address) is not: retrying it would only make the user wait for the same answer."""
        error = TransportError(f"cannot reach {self.config.base_url}: {describe(exc)}")
        if isinstance(exc, httpx.ConnectError):
            raise error
        never_sent = isinstance(exc, httpx.ConnectTimeout)
        if never_sent or self._may_resend:
            return self._retry_or(error)
        raise error

    def _parse(self, response: httpx.Response) -> T:
        try:
            body = orjson.loads(response.content)
            if not isinstance(body, Mapping):
                raise MalformedResponse("the body is not a JSON object")
            return self.call.parse(body)
        except (orjson.JSONDecodeError, MalformedResponse) as exc:
            raise ApiError(response.status_code, f"unexpected answer from the server: {exc}") from None


def describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def error_message(content: bytes, status: int) -> str:
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        body = None
    if isinstance(body, Mapping) and isinstance(body.get("message"), str):
        return str(body["message"])
    text = content.decode("utf-8", "replace").strip()
    return text[:200] if text else httpx.codes.get_reason_phrase(status) or f"HTTP {status}"


def retry_after_seconds(headers: httpx.Headers) -> float | None:
    """``Retry-After`` as seconds, in either of its forms (delta-seconds or an HTTP date); without it,
    ``X-RateLimit-Reset`` as the seconds to wait (what Trova and Enrow's own SDKs mean by it)."""
    value = headers.get("Retry-After") or headers.get("X-RateLimit-Reset")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def error_for(status: int, content: bytes, headers: httpx.Headers) -> ApiError:
    message = error_message(content, status)
    if status == 401:
        return AuthenticationError(status, message)
    if status == 402:
        return InsufficientCreditsError(status, message)
    if status == 404:
        return NotFoundError(status, message)
    if status == 429:
        return RateLimitError(status, message, retry_after_seconds(headers))
    return ApiError(status, message)


@dataclass(slots=True)
class Poll:
    """When to look again while waiting: the interval grows gently up to ``max_interval_s``."""

    timeout_s: float | None
    interval_s: float
    max_interval_s: float
    what: str
    started: float = field(default_factory=time.monotonic)

    def next_delay_s(self) -> float:
        delay = self.interval_s
        self.interval_s = min(self.interval_s * 1.5, max(self.max_interval_s, self.interval_s))
        if self.timeout_s is not None:
            left = self.started + self.timeout_s - time.monotonic()
            if left <= 0:
                raise WaitTimeout(f"{self.what} still running after {self.timeout_s:g} s")
            delay = min(delay, left)
        return delay
