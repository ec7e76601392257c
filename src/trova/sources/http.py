"""The ``http`` kind: a declarative JSON provider, one request per search, built from templates.

Requests go out on ``concurrency`` threads, paced to at most ``rate_limit_per_s`` per process
(the pacer hands out evenly spaced start times, so there are no bursts at the start of a second).
Each request is retried on timeouts, lost connections and 5xx with exponential backoff and full
jitter; a 429 waits ``Retry-After`` when that still fits the deadline, else the source backs off.
A 402 stops the step at once (the source is exhausted); nothing is sent after the deadline.

Secrets (``${ENV}`` in the URL, headers or body) are substituted only into the request itself;
errors are reported by status or exception type, and ``httpx``'s request log (which prints URLs)
is silenced, so a key never reaches a log line or a stored error.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from trova.client import retry_after_seconds
from trova.people.models import Observation, Search
from trova.people.normalise import read_phone
from trova.people.rank import stated_line_type
from trova.sources.config import ENV_REFERENCE, HttpOptions
from trova.sources.jsonpath import Match, select
from trova.sources.models import Failure, Lookup, SourceKind, search_fields
from trova.store import utcnow

logging.getLogger("httpx").setLevel(logging.WARNING)
logging.getLogger("httpcore").setLevel(logging.WARNING)

PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
TEMPLATE_FIELDS = frozenset(
    {"first_name", "last_name", "full_name", "company_domain", "company_name", "linkedin_url", "linkedin_key"}
)


# --- pacing, shared by every instance of one source in the process -------------------------------


class Pacer:
    """Evenly spaced start times at most ``rate_per_s`` per second (process-wide per source)."""

    def __init__(self, rate_per_s: float) -> None:
        self.interval_s = 1.0 / rate_per_s
        self._next = 0.0
        self._lock = threading.Lock()

    def wait_turn(self, deadline: float) -> bool:
        """Sleep until this caller's slot; False (no slot taken) when it would start after ``deadline``."""
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            if slot >= deadline:
                return False
            self._next = slot + self.interval_s
        if slot > now:
            time.sleep(slot - now)
        return True


_pacers: dict[tuple[str, float], Pacer] = {}
_gates: dict[tuple[str, int], threading.BoundedSemaphore] = {}
_registry_lock = threading.Lock()


def pacer_for(name: str, rate_per_s: float) -> Pacer:
    with _registry_lock:
        return _pacers.setdefault((name, rate_per_s), Pacer(rate_per_s))


def gate_for(name: str, concurrency: int) -> threading.BoundedSemaphore:
    """At most ``concurrency`` requests in flight for the source, whichever worker thread sends them."""
    with _registry_lock:
        return _gates.setdefault((name, concurrency), threading.BoundedSemaphore(concurrency))


def backoff_s(attempt: int, base_s: float, cap_s: float) -> float:
    """Full-jitter exponential backoff: clients retrying together do not hit the provider in step."""
    return random.uniform(0.0, min(cap_s, base_s * 2**attempt))


# --- templates --------------------------------------------------------------------------------------


def template_values(search: Search) -> dict[str, str]:
    values = search_fields(search)
    if search.linkedin_key:
        values["linkedin_key"] = search.linkedin_key
    return values


def substitute_env(text: str, environ: Mapping[str, str]) -> str:
    return ENV_REFERENCE.sub(lambda found: environ.get(found.group(1), ""), text)


def render_url(template: str, values: Mapping[str, str], environ: Mapping[str, str]) -> str:
    """``{field}`` placeholders URL-encoded (absent fields empty), then ``${ENV}`` substituted."""
    url = PLACEHOLDER.sub(lambda found: quote(values.get(found.group(1), ""), safe=""), template)
    return substitute_env(url, environ)


def render_body(template: Any, values: Mapping[str, str], environ: Mapping[str, str]) -> Any:
    """A JSON body from its template: a string that is exactly ``{field}`` becomes the value (or
    null when the search lacks it); placeholders inside longer strings are interpolated."""
    if isinstance(template, Mapping):
        return {key: render_body(item, values, environ) for key, item in template.items()}
    if isinstance(template, list):
        return [render_body(item, values, environ) for item in template]
    if isinstance(template, str):
        whole = PLACEHOLDER.fullmatch(template)
        if whole is not None:
            return values.get(whole.group(1))
        text = PLACEHOLDER.sub(lambda found: values.get(found.group(1), ""), template)
        return substitute_env(text, environ)
    return template


def unknown_placeholders(options: HttpOptions) -> set[str]:
    texts = [options.url, *options.headers.values(), orjson.dumps(options.body or {}).decode()]
    return {name for text in texts for name in PLACEHOLDER.findall(text)} - TEMPLATE_FIELDS


# --- reading answers --------------------------------------------------------------------------------


def _date(value: Any, default: dt.datetime) -> dt.datetime:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return dt.datetime.fromtimestamp(value, dt.UTC).replace(tzinfo=None)
    if isinstance(value, str) and value.strip():
        try:
            parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return default
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
        return min(parsed, default)
    return default


def observation_of(
    raw: str, country: str | None, source: str, observed_at: dt.datetime, stated_type: Any = None
) -> Observation:
    """One reported number read by libphonenumber, as the finder ranks every source's numbers."""
    reading = read_phone(raw, country)
    if reading is None:
        return Observation(None, False, None, None, source, observed_at, raw)
    line_type = stated_line_type(reading.line_type, stated_type if isinstance(stated_type, str) else None)
    return Observation(reading.e164, reading.valid, line_type, reading.region, source, observed_at, raw)


def _by_position(matches: list[Match]) -> dict[tuple[Any, ...], Any]:
    return {match.positions: match.value for match in matches}


def observations_in(document: Any, options: HttpOptions, source: str, now: dt.datetime) -> list[Observation]:
    """The numbers at ``numbers_path`` with the type and date found at the same wildcard positions."""
    types = _by_position(select(document, options.type_path)) if options.type_path else {}
    dates = _by_position(select(document, options.date_path)) if options.date_path else {}
    found = []
    for match in select(document, options.numbers_path):
        value = match.value
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            continue
        observed_at = _date(dates.get(match.positions), now)
        found.append(
            observation_of(
                value.strip(), options.default_country, source, observed_at, types.get(match.positions)
            )
        )
    return found


# --- one request --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Answer:
    observations: tuple[Observation, ...] | None = None
    """None: not answered (see ``failure``); empty: the provider has nothing."""
    failure: Failure | None = None
    error: str | None = None
    retry_after_s: float | None = None
    sent: int = 0
    failed_requests: int = 0


class HttpSource:
    """A declarative JSON provider (``kind = "http"``)."""

    kind: SourceKind = "http"

    def __init__(
        self,
        name: str,
        options: HttpOptions,
        *,
        environ: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.name = name
        self.options = options
        self._environ = dict(os.environ if environ is None else environ)
        self._clock = clock
        self._transport = transport
        self._pacer = pacer_for(name, options.rate_limit_per_s) if options.rate_limit_per_s else None
        self._gate = gate_for(name, options.concurrency)

    def _client(self) -> httpx.Client:
        """One connection pool per step: kept alive across the step's requests, closed after it."""
        concurrency = self.options.concurrency
        return httpx.Client(
            timeout=self.options.timeout_s,
            transport=self._transport,
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            follow_redirects=False,
        )

    def lookup_many(self, searches: Sequence[Search], deadline: float) -> Lookup:
        stop = threading.Event()
        distinct = list(dict.fromkeys(searches))
        workers = max(1, min(self.options.concurrency, len(distinct)))
        with (
            self._client() as http,
            ThreadPoolExecutor(workers, thread_name_prefix=f"source-{self.name}") as pool,
        ):
            answers = list(pool.map(lambda search: self._ask(http, search, deadline, stop), distinct))
        return self._summarise(distinct, answers)

    def _summarise(self, searches: list[Search], answers: list[_Answer]) -> Lookup:
        found = {s: a.observations for s, a in zip(searches, answers, strict=True) if a.observations}
        missed = frozenset(
            s
            for s, a in zip(searches, answers, strict=True)
            if a.observations is not None and not a.observations
        )
        failures = [a for a in answers if a.failure is not None]
        worst = _worst(failures)
        requests = sum(a.sent for a in answers)
        return Lookup(
            found=found,
            missed=missed,
            requests=requests,
            credits_spent=requests * self.options.credits_per_request,
            failure=worst.failure if worst else None,
            error=worst.error if worst else None,
            retry_after_s=worst.retry_after_s if worst else None,
            errors=sum(a.failed_requests for a in answers),
        )

    def _ask(self, http: httpx.Client, search: Search, deadline: float, stop: threading.Event) -> _Answer:
        """One search, with retries; the shared ``stop`` ends everyone's work after a 402 or 429."""
        options = self.options
        sent = failed = 0
        last_error = "not sent"
        for attempt in range(options.retries + 1):
            if stop.is_set() or time.monotonic() >= deadline:
                return _Answer(failure="deadline", error=last_error, sent=sent, failed_requests=failed)
            outcome = self._send(http, search, deadline)
            if outcome is None:
                return _Answer(
                    failure="deadline", error="deadline reached", sent=sent, failed_requests=failed
                )
            sent += 1
            status, body, retry_after = outcome
            if status == 402:
                stop.set()
                return _Answer(failure="exhausted", error="402 from provider", sent=sent)
            if status == 429:
                wait_s = (
                    retry_after
                    if retry_after is not None
                    else backoff_s(attempt, options.backoff_base_s, options.backoff_cap_s)
                )
                if wait_s > options.max_retry_after_s or time.monotonic() + wait_s >= deadline:
                    stop.set()
                    return _Answer(
                        failure="rate_limited", error="429 from provider", retry_after_s=wait_s, sent=sent
                    )
                time.sleep(wait_s)
                continue
            if status in options.not_found_statuses:
                return _Answer(observations=(), sent=sent)
            if 200 <= status < 300 and body is not None:
                return self._read(body, sent)
            failed += 1
            last_error = f"HTTP {status}" if status else (body or b"error").decode()
            if status and status < 500:
                return _Answer(failure="error", error=last_error, sent=sent, failed_requests=failed)
            delay = backoff_s(attempt, options.backoff_base_s, options.backoff_cap_s)
            if time.monotonic() + delay >= deadline:
                break
            time.sleep(delay)
        return _Answer(failure="error", error=last_error, sent=sent, failed_requests=failed)

    def _read(self, body: bytes, sent: int) -> _Answer:
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            return _Answer(failure="error", error="answer is not JSON", sent=sent, failed_requests=1)
        return _Answer(
            observations=tuple(observations_in(document, self.options, self.name, self._clock())), sent=sent
        )

    def _send(
        self, http: httpx.Client, search: Search, deadline: float
    ) -> tuple[int, bytes | None, float | None] | None:
        """Send once, paced and within the concurrency gate; None when the deadline came first.

        Transport failures come back as status 0 with the exception's type name (never its text,
        which may hold the URL and so a secret)."""
        if self._pacer is not None and not self._pacer.wait_turn(deadline):
            return None
        options = self.options
        values = template_values(search)
        url = render_url(options.url, values, self._environ)
        headers = {key: substitute_env(value, self._environ) for key, value in options.headers.items()}
        body = render_body(options.body, values, self._environ) if options.body is not None else None
        if body is not None:
            headers.setdefault("Content-Type", "application/json")
        timeout = max(0.05, min(options.timeout_s, deadline - time.monotonic()))
        with self._gate:
            try:
                response = http.request(
                    options.method,
                    url,
                    headers=headers,
                    timeout=timeout,
                    content=orjson.dumps(body) if body is not None else None,
                )
            except httpx.TimeoutException:
                return 0, b"timeout", None
            except httpx.HTTPError as error:
                return 0, type(error).__name__.encode(), None
        return response.status_code, response.content, retry_after_seconds(response.headers)


_FAILURE_ORDER: tuple[Failure, ...] = ("exhausted", "rate_limited", "error", "deadline")


def _worst(failures: list[_Answer]) -> _Answer | None:
    """The failure that best explains the step: exhaustion over rate limits over errors over time."""
    for kind in _FAILURE_ORDER:
        for answer in failures:
            if answer.failure == kind:
                return answer
    return None
