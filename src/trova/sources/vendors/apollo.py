"""Apollo (``kind = "apollo"``): People Match, whose phone numbers arrive later, by callback.

Written from Apollo's public API documentation (https://docs.apollo.io/reference/people-enrichment,
https://docs.apollo.io/docs/retrieve-mobile-phone-numbers-for-contacts,
https://docs.apollo.io/reference/poll-webhook-result), read through the search tool:

* ``POST /api/v1/people/match`` with the ``x-api-key`` header and query parameters (``first_name``,
  ``last_name``, ``domain``, ``organization_name``, ``linkedin_url``, ``reveal_phone_number=true``,
  ``webhook_url``) answers at once with ``{"person": {…}}`` (``null``: no match); the phone numbers
  are revealed asynchronously and POSTed to ``webhook_url`` as ``{"people": [{"id", "phone_numbers":
  [{"raw_number", "sanitized_number", "type_cd", "status_cd", "dnc_status_cd"}]}]}``. Apollo signs
  nothing: the only defence is an unguessable URL, and Apollo may deliver a callback more than once.
* 401/403: the key is refused; 402, or 422 whose message speaks of credits: no credits; 429: the
  rate limit (``Retry-After`` honoured); a 200 without ``person`` is malformed (an error, not a miss).
* The match answer carries a ``request_id``: ``GET /api/v1/webhook_result/{request_id}`` (free)
  answers the callback's payload once ready, 404 ``result_pending`` (with ``retry_after_seconds``)
  before; results are kept thirty days.
* Credits are spent per reveal: a callback that revealed a number is billed at ``price``.

Each request gets its own callback token (``callback_repository``): the row is written before
Apollo is asked, ``POST /v1/callbacks/<token>`` of ``trova serve`` writes the payload into it, and
the search reads it until ``deadline_s``; then it is reported not found, and the pending reveal
(already paid for) is a ``source_batches`` row that later steps collect, in this process or another
one after a restart, without asking Apollo again; when the callback has not come by then, those
steps poll Apollo's webhook result instead (the fallback). ``dnc_status_cd`` is carried to
``do_not_call``; ``type_cd`` refines the line type; a number whose ``status_cd`` says invalid is not
a find.
Apollo's ``bulk_match`` (10 people) is not used: one search, one request, one callback.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import httpx

from trova.client import retry_after_seconds
from trova.people.models import Observation, Search
from trova.sources import callback_repository as callbacks
from trova.sources.config import ApolloOptions, secret
from trova.sources.http import observation_of
from trova.sources.models import Call, Failure, Lookup, SourceKind
from trova.sources.order import country_of_search
from trova.sources.vendor import json_object, person_fields, text
from trova.store import Database, utcnow

CALLBACK_PATH = "/v1/callbacks/"
_WAIT_MAX_S = 2.0


@dataclass(slots=True)
class _Sent:
    """What asking Apollo about one search came to."""

    pending: dict[str, Search] = field(default_factory=dict)
    missed: set[Search] = field(default_factory=set)
    calls: list[Call] = field(default_factory=list)
    requests: int = 0
    failure: tuple[Failure, str, float | None] | None = None


class ApolloSource:
    """Apollo People Match with phone reveal by callback (module docstring)."""

    kind: SourceKind = "apollo"

    def __init__(
        self,
        name: str,
        options: ApolloOptions,
        *,
        db: Database | None = None,
        public_url: str | None = None,
        environ: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.name = name
        self.options = options
        self.db = db
        self.public_url = public_url.rstrip("/") if public_url else None
        self._api_key = secret(options.api_key_env, environ)
        self._transport = transport
        self._clock = clock

    def lookup_many(self, searches: Sequence[Search], deadline: float) -> Lookup:
        if self.db is None or not self.public_url:
            missing = "TROVA_PUBLIC_URL is not set: Apollo reveals phones by callback"
            return Lookup(failure="error", error=missing)
        sent = _Sent()
        with self._http() as http:
            for index, search in enumerate(dict.fromkeys(searches)):
                if index and time.monotonic() >= deadline:
                    sent.failure = ("deadline", "deadline reached before sending", None)
                    break
                self._send(http, search, sent)
                if sent.failure is not None:
                    break
        found, unfinished, calls = self._wait(sent.pending, deadline)
        missed = sent.missed | {s for s, observations in found.items() if not observations}
        kind, detail, wait_s = sent.failure if sent.failure is not None else (None, None, None)
        all_calls = (*sent.calls, *calls)
        return Lookup(
            found={s: o for s, o in found.items() if o},
            missed=frozenset(missed),
            requests=sent.requests,
            errors=1 if kind == "error" else 0,
            credits_spent=round(sum(call.cost for call in all_calls)),
            failure=kind,
            error=detail,
            retry_after_s=wait_s,
            unfinished=unfinished,
            calls=all_calls,
        )

    def collect(self, upstream_id: str, searches: Sequence[Search]) -> Lookup | None:
        """A reveal left pending at an earlier deadline: its numbers once its callback came (or, the
        callback missing, once Apollo's poll-webhook-result has it), else None."""
        assert self.db is not None
        with self.db.read() as conn:
            payload = callbacks.payload_of(conn, upstream_id)
            request_id = callbacks.request_id_of(conn, upstream_id)
        if payload is None and request_id is not None:
            payload = self._poll(upstream_id, request_id)
        if payload is None or not searches:
            return None
        search = searches[0]
        observations, call = self._read(search, upstream_id, payload)
        return Lookup(
            found={search: observations} if observations else {},
            missed=frozenset() if observations else frozenset({search}),
            credits_spent=round(call.cost),
            calls=(call,),
        )

    def _poll(self, hashed: str, request_id: str) -> Any | None:
        """Ask Apollo for the result its callback should have brought (free; 404 ``result_pending``
        while it is not ready); a result is kept in the callback row, once, like a callback."""
        assert self.db is not None
        try:
            with self._http() as http:
                response = http.get(f"/api/v1/webhook_result/{request_id}")
        except httpx.HTTPError:
            return None
        if response.status_code != 200 or not (payload := json_object(response)):
            return None
        with self.db.write() as conn:
            callbacks.deliver_hashed(conn, hashed, payload, self._clock())
            return callbacks.payload_of(conn, hashed)

    def _http(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.options.base_url,
            timeout=self.options.timeout_s,
            transport=self._transport,
            follow_redirects=False,
            headers={"x-api-key": self._api_key, "Cache-Control": "no-cache"},
        )

    def _send(self, http: httpx.Client, search: Search, sent: _Sent) -> None:
        """Open the callback row, then ask Apollo; a match leaves the search pending its callback."""
        assert self.db is not None
        params = _params(search)
        if not params:
            sent.missed.add(search)
            return
        token, hashed = callbacks.new_token()
        with self.db.write() as conn:
            callbacks.open_callback(conn, self.name, hashed, self._clock())
        params |= {"reveal_phone_number": "true", "webhook_url": f"{self.public_url}{CALLBACK_PATH}{token}"}
        started = time.monotonic()
        sent.requests += 1
        try:
            response = http.post("/api/v1/people/match", params=params)
        except httpx.HTTPError as error:
            sent.failure = ("error", f"POST: {type(error).__name__}", None)
            return
        latency_ms = int((time.monotonic() - started) * 1000)
        body = json_object(response)
        sent.failure = _failure_of(response, body)
        if sent.failure is None and "person" not in body:
            sent.failure = ("error", "malformed answer: no person", None)
        if sent.failure is not None:
            return
        if not isinstance(body.get("person"), dict):
            sent.missed.add(search)
            sent.calls.append(self._call(search, "no_match", None, latency_ms, text(body.get("request_id"))))
            return
        if request_id := text(body.get("request_id")):
            with self.db.write() as conn:
                callbacks.set_request_id(conn, hashed, request_id)
        sent.pending[hashed] = search

    def _wait(
        self, pending: dict[str, Search], deadline: float
    ) -> tuple[dict[Search, tuple[Observation, ...]], dict[str, tuple[Search, ...]], list[Call]]:
        """Read the callback rows, with a growing interval, until all came or the deadline passed:
        (observations per search answered, the reveals still pending, their calls)."""
        assert self.db is not None
        found: dict[Search, tuple[Observation, ...]] = {}
        calls: list[Call] = []
        interval = self.options.wait_interval_s
        left = dict(pending)
        while left:
            with self.db.read() as conn:
                payloads = {hashed: callbacks.payload_of(conn, hashed) for hashed in left}
            for hashed, payload in payloads.items():
                if payload is not None:
                    search = left.pop(hashed)
                    found[search], call = self._read(search, hashed, payload)
                    calls.append(call)
            remaining = deadline - time.monotonic()
            if not left or remaining <= 0:
                break
            time.sleep(min(interval, remaining))
            interval = min(interval * 1.5, _WAIT_MAX_S)
        return found, {hashed: (search,) for hashed, search in left.items()}, calls

    def _read(self, search: Search, hashed: str, payload: Any) -> tuple[tuple[Observation, ...], Call]:
        now = self._clock()
        observations = tuple(
            replace(observation_of(raw, self.options.default_country, self.name, now, kind), do_not_call=dnc)
            for raw, kind, dnc in _phones(payload)
        )
        outcome: Literal["found", "no_match"] = "found" if observations else "no_match"
        return observations, self._call(search, outcome, observations, 0, hashed[:16])

    def _call(
        self,
        search: Search,
        outcome: Literal["found", "no_match"],
        observations: tuple[Observation, ...] | None,
        latency_ms: int,
        request_id: str | None,
    ) -> Call:
        billed = bool(observations)
        return Call(
            search=search,
            outcome=outcome,
            billed=billed,
            cost=self.options.price if billed else 0.0,
            latency_ms=latency_ms,
            request_id=request_id,
            country=next((o.region for o in observations or () if o.valid and o.region), None),
            search_country=country_of_search(search),
        )


def _params(search: Search) -> dict[str, str]:
    """People Match's query parameters; empty when the search names no one Apollo can match."""
    kept = person_fields(search, company_name_key="organization_name")
    return kept if "linkedin_url" in kept or {"first_name", "last_name"} <= kept.keys() else {}


def _failure_of(response: httpx.Response, body: dict[str, Any]) -> tuple[Failure, str, float | None] | None:
    status = response.status_code
    message = str(body.get("error") or body.get("message") or f"HTTP {status}")[:200]
    if status == 200:
        return None
    if status in (401, 403):
        return "bad_key", f"HTTP {status}: {message}", None
    if status == 402 or (status == 422 and "credit" in message.casefold()):
        return "exhausted", f"HTTP {status}: {message}", None
    if status == 429:
        return "rate_limited", "HTTP 429", retry_after_seconds(response.headers) or 60.0
    return "error", f"POST: HTTP {status} {message}", None


def _dnc(value: Any) -> bool | None:
    word = value.casefold() if isinstance(value, str) else ""
    if not word:
        return None
    if word.startswith(("not", "non", "no_", "clean")):
        return False
    return "dnc" in word or word == "do_not_call"


def _phones(payload: Any) -> list[tuple[str, str | None, bool | None]]:
    """(number, Apollo's ``type_cd``, do-not-call) of every valid number the callback revealed."""
    people = payload.get("people") if isinstance(payload, dict) else None
    if not isinstance(people, list):
        person = payload.get("person") if isinstance(payload, dict) else None
        people = [person] if isinstance(person, dict) else []
    phones: dict[str, tuple[str, str | None, bool | None]] = {}
    for person in people:
        for entry in (person.get("phone_numbers") or []) if isinstance(person, dict) else []:
            if not isinstance(entry, dict) or "invalid" in str(entry.get("status_cd") or "").casefold():
                continue
            number = text(entry.get("sanitized_number")) or text(entry.get("raw_number"))
            if number and number not in phones:
                phones[number] = (number, text(entry.get("type_cd")), _dnc(entry.get("dnc_status_cd")))
    return list(phones.values())
