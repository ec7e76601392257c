"""What every data-vendor kind shares (``pdl``, ``prospeo``, ``lusha``, ``kaspr``): the adapter contract
and :class:`VendorSource`, which sends, retries, paces, classifies and accounts for each request.

An adapter knows one vendor's wire format and nothing else: it builds the request for a search
(:meth:`Adapter.request`) and reads the answer (:meth:`Adapter.parse`) into a :class:`Reply` that
keeps the vendor's distinctions:

* ``found`` with the phones it revealed (raw text, the vendor's line type, do-not-call flag,
  confidence); ``no_match``; ``masked`` (the vendor has a number but did not reveal or verify
  it: not a find, never billed as one);
* ``bad_key`` → the step stops and the source is **disabled** until ``trova sources reset``
  (``trova sources list`` shows why); ``no_credits`` → the source is **exhausted** until
  ``exhausted_recheck_s`` has passed; ``rate_limited`` (HTTP 429) → the request waits for the
  vendor's ``Retry-After`` (or its own reset header) when that fits the deadline, else the source
  backs off that long; ``error``/``timeout``/``malformed`` → retried (5xx, timeouts) or reported.

Every request sent becomes a :class:`~trova.sources.models.Call` (outcome, billed, ``price`` when
billed, latency, the vendor's request id), written as a ``source_calls`` row by the waterfall in
the transaction that accounts for the step. Phones are read by libphonenumber like every other
source's (``http.observation_of``); the vendor's line type only refines what libphonenumber
cannot tell (``fixed_line_or_mobile``).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

import httpx
import orjson

from trova.client import retry_after_seconds
from trova.people.models import Observation, Search
from trova.sources.config import VendorOptions, secret
from trova.sources.http import backoff_s, gate_for, observation_of, pacer_for
from trova.sources.models import Call, CallOutcome, Failure, Lookup, SourceKind, search_fields
from trova.sources.order import country_of_search
from trova.store import utcnow


@dataclass(frozen=True, slots=True)
class VendorPhone:
    """One number as the vendor gave it, with what the vendor knows about it."""

    raw: str
    stated_type: str | None = None
    do_not_call: bool | None = None
    confidence: float | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    """One vendor answer, classified."""

    outcome: CallOutcome
    phones: tuple[VendorPhone, ...] = ()
    billed: bool = False
    request_id: str | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class VendorRequest:
    method: Literal["GET", "POST"]
    path: str
    params: Mapping[str, str] = field(default_factory=dict)
    json: Any = None


class Adapter(Protocol):
    """One vendor's wire format."""

    kind: SourceKind
    reset_headers: tuple[str, ...]
    """Headers (besides ``Retry-After``) that say in how many seconds a rate limit resets."""

    def headers(self, api_key: str) -> dict[str, str]: ...

    def request(self, search: Search) -> VendorRequest | None:
        """The request for this search; None when the vendor cannot be asked with what it holds."""
        ...

    def parse(self, status: int, body: Any) -> Reply:
        """Classify one answer (``body``: the decoded JSON, or None when empty)."""
        ...


def by_status(status: int, detail: str = "") -> Reply | None:
    """The usual meaning of an error status, for adapters whose vendor follows HTTP conventions."""
    if status in (401, 403):
        return Reply("bad_key", detail=detail or f"HTTP {status}: the key was refused")
    if status == 402:
        return Reply("no_credits", detail=detail or "HTTP 402: out of credits")
    if status == 404:
        return Reply("no_match")
    if status == 429:
        return Reply("rate_limited", detail="HTTP 429")
    return None


def text(value: Any) -> str | None:
    """A non-empty string, or None (vendors send numbers as strings, ints or nulls)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    return value.strip() or None if isinstance(value, str) else None


@dataclass(slots=True)
class _Asked:
    """What asking one search came to."""

    calls: list[Call] = field(default_factory=list)
    observations: tuple[Observation, ...] | None = None
    """None: not answered; empty: the vendor had nothing usable (no match, masked)."""
    failure: Failure | None = None
    error: str | None = None
    retry_after_s: float | None = None


_FAILURES: dict[CallOutcome, Failure] = {"bad_key": "bad_key", "no_credits": "exhausted"}
_FAILURE_ORDER: tuple[Failure, ...] = ("bad_key", "exhausted", "rate_limited", "error", "deadline")


class VendorSource:
    """A data vendor, asked one search per request through its :class:`Adapter`."""

    def __init__(
        self,
        name: str,
        options: VendorOptions,
        adapter: Adapter,
        *,
        environ: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.name = name
        self.kind: SourceKind = adapter.kind
        self.options = options
        self.adapter = adapter
        self._api_key = secret(options.api_key_env, environ)
        self._transport = transport
        self._clock = clock
        self._pacer = pacer_for(name, options.rate_limit_per_s) if options.rate_limit_per_s else None
        self._gate = gate_for(name, options.concurrency)

    def lookup_many(self, searches: Sequence[Search], deadline: float) -> Lookup:
        distinct = list(dict.fromkeys(searches))
        stop = threading.Event()
        workers = max(1, min(self.options.concurrency, len(distinct)))
        limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
        with (
            httpx.Client(
                base_url=self.options.base_url,
                timeout=self.options.timeout_s,
                transport=self._transport,
                limits=limits,
                follow_redirects=False,
                headers=self.adapter.headers(self._api_key),
            ) as http,
            ThreadPoolExecutor(workers, thread_name_prefix=f"source-{self.name}") as pool,
        ):
            asked = list(pool.map(lambda search: self._ask(http, search, deadline, stop), distinct))
        return self._summarise(distinct, asked)

    def _summarise(self, searches: list[Search], asked: list[_Asked]) -> Lookup:
        pairs = list(zip(searches, asked, strict=True))
        failures = [a for a in asked if a.failure is not None]
        worst = next((a for kind in _FAILURE_ORDER for a in failures if a.failure == kind), None)
        calls = tuple(call for a in asked for call in a.calls)
        return Lookup(
            found={s: a.observations for s, a in pairs if a.observations},
            missed=frozenset(s for s, a in pairs if a.observations is not None and not a.observations),
            requests=len(calls),
            errors=sum(1 for a in asked if a.failure == "error"),
            credits_spent=round(sum(call.cost for call in calls)),
            failure=worst.failure if worst else None,
            error=worst.error if worst else None,
            retry_after_s=worst.retry_after_s if worst else None,
            calls=calls,
        )

    def _ask(self, http: httpx.Client, search: Search, deadline: float, stop: threading.Event) -> _Asked:
        """One search, with retries of 5xx, timeouts and 429s that fit the deadline."""
        asked = _Asked()
        request = self.adapter.request(search)
        if request is None:
            asked.observations = ()
            return asked
        options = self.options
        for attempt in range(options.retries + 1):
            if stop.is_set() or time.monotonic() >= deadline:
                break
            if self._pacer is not None and not self._pacer.wait_turn(deadline):
                break
            reply, wait_s, latency_ms = self._send(http, request, deadline)
            asked.calls.append(self._call(search, reply, latency_ms))
            if reply.outcome == "rate_limited":
                wait_s = (
                    wait_s
                    if wait_s is not None
                    else backoff_s(attempt, options.backoff_base_s, options.backoff_cap_s)
                )
                if wait_s > options.max_retry_after_s or time.monotonic() + wait_s >= deadline:
                    stop.set()
                    asked.failure, asked.error, asked.retry_after_s = "rate_limited", reply.detail, wait_s
                    return asked
                time.sleep(wait_s)
                continue
            if reply.outcome in ("error", "timeout") and attempt < options.retries:
                delay = backoff_s(attempt, options.backoff_base_s, options.backoff_cap_s)
                if time.monotonic() + delay < deadline:
                    time.sleep(delay)
                    continue
            return self._conclude(asked, reply, stop)
        if asked.failure is None:
            asked.failure, asked.error = "deadline", "deadline reached"
        return asked

    def _conclude(self, asked: _Asked, reply: Reply, stop: threading.Event) -> _Asked:
        if reply.outcome == "found":
            now = self._clock()
            country = self.options.default_country
            asked.observations = tuple(
                replace(
                    observation_of(phone.raw, country, self.name, now, phone.stated_type),
                    do_not_call=phone.do_not_call,
                )
                for phone in reply.phones
            )
        elif reply.outcome in ("no_match", "masked"):
            asked.observations = ()
        elif reply.outcome in _FAILURES:
            stop.set()
            asked.failure, asked.error = _FAILURES[reply.outcome], reply.detail or reply.outcome
        else:
            asked.failure, asked.error = "error", reply.detail or reply.outcome
        return asked

    def _call(self, search: Search, reply: Reply, latency_ms: int) -> Call:
        country = None
        if reply.outcome == "found":
            readings = [
                observation_of(p.raw, self.options.default_country, self.name, self._clock())
                for p in reply.phones
            ]
            country = next((r.region for r in readings if r.valid and r.region), None)
        return Call(
            search=search,
            outcome=reply.outcome,
            billed=reply.billed,
            cost=self.options.price if reply.billed else 0.0,
            latency_ms=latency_ms,
            request_id=reply.request_id,
            country=country,
            search_country=country_of_search(search),
        )

    def _send(
        self, http: httpx.Client, request: VendorRequest, deadline: float
    ) -> tuple[Reply, float | None, int]:
        """Send once within the concurrency gate; the classified answer and any wait it asks for.

        Transport failures are reported by exception type only (never their text, which may hold a URL)."""
        timeout = max(0.05, min(self.options.timeout_s, deadline - time.monotonic()))
        started = time.monotonic()
        with self._gate:
            try:
                response = http.request(
                    request.method,
                    request.path,
                    params=dict(request.params) or None,
                    content=orjson.dumps(request.json) if request.json is not None else None,
                    headers={"Content-Type": "application/json"} if request.json is not None else None,
                    timeout=timeout,
                )
            except httpx.TimeoutException:
                return Reply("timeout", detail="timeout"), None, _ms_since(started)
            except httpx.HTTPError as error:
                return Reply("error", detail=type(error).__name__), None, _ms_since(started)
        latency_ms = _ms_since(started)
        status = response.status_code
        if status == 429:
            return (
                Reply("rate_limited", detail="HTTP 429 from vendor"),
                self._wait_of(response.headers),
                latency_ms,
            )
        if status >= 500:
            return Reply("error", detail=f"HTTP {status}"), None, latency_ms
        try:
            body = orjson.loads(response.content) if response.content else None
        except orjson.JSONDecodeError:
            return Reply("malformed", detail=f"HTTP {status}: answer is not JSON"), None, latency_ms
        try:
            return self.adapter.parse(status, body), None, latency_ms
        except (KeyError, TypeError, ValueError, AttributeError):
            return Reply("malformed", detail=f"HTTP {status}: unexpected answer"), None, latency_ms

    def _wait_of(self, headers: httpx.Headers) -> float | None:
        wait = retry_after_seconds(headers)
        if wait is not None:
            return wait
        for name in self.adapter.reset_headers:
            value = headers.get(name)
            try:
                return max(0.0, float(value)) if value is not None else None
            except ValueError:
                continue
        return None


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The answer's JSON object; empty when the body is empty, not JSON, or not an object."""
    try:
        body = orjson.loads(response.content) if response.content else {}
    except orjson.JSONDecodeError:
        return {}
    return body if isinstance(body, dict) else {}


def person_fields(search: Search, company_name_key: str = "company_name") -> dict[str, str]:
    """The search as the person fields most vendors take (``first_name``, ``last_name``, ``domain``,
    the company's name under ``company_name_key``, ``linkedin_url``), only those it has."""
    fields = search_fields(search)
    person = {
        "first_name": fields.get("first_name"),
        "last_name": fields.get("last_name"),
        "domain": fields.get("company_domain"),
        company_name_key: fields.get("company_name"),
        "linkedin_url": fields.get("linkedin_url"),
    }
    return {key: value for key, value in person.items() if value}


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
