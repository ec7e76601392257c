"""FullEnrich (``kind = "fullenrich"``): an asynchronous vendor, submitted in bulk, then called back
(when ``TROVA_PUBLIC_URL`` is set) or polled.

Written from FullEnrich's public API v2 reference (https://docs.fullenrich.com/api/v2/reference/
openapi.yml: ``/contact/enrich/bulk``), read through the search tool:

* ``POST /api/v2/contact/enrich/bulk`` with ``Authorization: Bearer <key>`` and ``{"name", "data":
  [{first_name, last_name, domain, company_name, linkedin_url, enrich_fields: ["contact.phones"],
  custom}]}`` (at most 100 contacts) answers ``{"enrichment_id"}``; 400 ``{"code", "message"}``
  for a request it refuses, 401 ``error.api.key`` and friends for a refused key, 429
  ``error.rate.limit`` ("Try again in 1m").
* ``GET /api/v2/contact/enrich/bulk/{enrichment_id}`` answers ``{"id", "status", "data": [{"custom",
  "contact_info": {"most_probable_phone": {"number", "region"}, "phones": [...]}}], "cost"}``;
  ``status`` is ``CREATED``/``IN_PROGRESS`` (or ``RATE_LIMIT``/``UNKNOWN``: keep waiting),
  ``FINISHED``, ``CANCELED`` or ``CREDITS_INSUFFICIENT`` (also sent with 402); 400
  ``error.enrichment.in_progress`` means "not ready yet", 404 ``error.enrichment.not_found``.
* A mobile costs 10 credits; landlines and invalid numbers are not billed: a contact is counted
  billed (at ``price``) when a number it revealed reads as a personal line (libphonenumber).
* Webhooks (https://docs.fullenrich.com/api/v2/general/webhooks): a ``webhook_url`` in the bulk
  request's body receives one POST when the whole enrichment is ``FINISHED``, out of credits or
  canceled; its body is the GET answer above. FullEnrich retries a non-2xx delivery every minute,
  up to 5 times, and signs each with ``X-Signature-SHA1`` (HMAC-SHA1 of the body keyed by the API
  key); Trova authenticates the callback by its URL's unguessable token instead, as for Apollo.

Polling is bounded by the step's deadline, with a growing interval (``poll_interval_s``, then
1.5 times longer up to ``poll_max_s``; a 429 waits for its ``Retry-After``). An enrichment still
running at the deadline is already paid for: its id is a ``source_batches`` row, collected by
later steps (in this process, or another one after a restart) for ``collect_within_s``; its
searches are not sent again meanwhile.

With ``TROVA_PUBLIC_URL`` (and the database) each enrichment gets its own callback row
(``callback_repository``, written before FullEnrich is asked) and ``webhook_url =
<TROVA_PUBLIC_URL>/v1/callbacks/<token>``: the wait reads the row every ``wait_interval_s`` (1.5
times longer each time, up to 2 s) and polls FullEnrich only as the fallback, first after
``poll_interval_s``; a result polled is kept in the row, once, like a callback (a later delivery is
refused 409), and a malformed callback is ignored in favour of polling. An enrichment left running
is then the row's token hash in ``source_batches``, and later steps read the row first, then poll.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx
import orjson

from trova.client import retry_after_seconds
from trova.people.models import Observation, Search
from trova.people.rank import PERSONAL_LINES
from trova.sources import callback_repository as callbacks
from trova.sources.config import FullEnrichOptions, secret
from trova.sources.http import observation_of
from trova.sources.models import Call, Failure, Lookup, SourceKind
from trova.sources.order import country_of_search
from trova.sources.vendor import json_object, person_fields, text
from trova.store import Database, utcnow

MAX_PER_CALL = 100
CALLBACK_PATH = "/v1/callbacks/"
_WAITING = {"CREATED", "IN_PROGRESS", "RATE_LIMIT", "UNKNOWN"}
_ROW_WAIT_MAX_S = 2.0

Polled = tuple[dict[str, Any] | None, tuple[Failure, str, float | None] | None]
"""(the finished body, or a failure, or neither while the enrichment runs)."""


class FullEnrichSource:
    """FullEnrich's bulk enrichment: one POST per 100 searches, then polls until finished."""

    kind: SourceKind = "fullenrich"

    def __init__(
        self,
        name: str,
        options: FullEnrichOptions,
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
        self.public_url = public_url.rstrip("/") if public_url and db is not None else None
        """Set: results are called back (module docstring); unset: polled only."""
        self._api_key = secret(options.api_key_env, environ)
        self._transport = transport
        self._clock = clock

    def _http(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.options.base_url,
            timeout=self.options.timeout_s,
            transport=self._transport,
            follow_redirects=False,
            headers={"Authorization": f"Bearer {self._api_key}", "Accept": "application/json"},
        )

    def lookup_many(self, searches: Sequence[Search], deadline: float) -> Lookup:
        distinct = list(dict.fromkeys(searches))
        parts: list[Lookup] = []
        with self._http() as http:
            for start in range(0, len(distinct), MAX_PER_CALL):
                if start and time.monotonic() >= deadline:
                    parts.append(Lookup(failure="deadline", error="deadline reached before sending"))
                    break
                part = self._one_call(http, distinct[start : start + MAX_PER_CALL], deadline)
                parts.append(part)
                if part.failure in ("bad_key", "exhausted", "rate_limited"):
                    break
        return _merge(parts)

    def collect(self, upstream_id: str, searches: Sequence[Search]) -> Lookup | None:
        """An enrichment left running at an earlier deadline: its results once finished, else None.
        ``upstream_id`` is the enrichment's id, or (called back) its callback row's token hash: the
        row is read first, FullEnrich polled only when the callback has not come."""
        enrichment_id, hashed, payload = upstream_id, None, None
        if self.db is not None:
            with self.db.read() as conn:
                if (request_id := callbacks.request_id_of(conn, upstream_id)) is not None:
                    enrichment_id, hashed = request_id, upstream_id
                    payload = callbacks.payload_of(conn, upstream_id)
        if _ended(payload):
            body, failure = _finished(payload, enrichment_id)
        else:
            with self._http() as http:
                body, failure, _wait = self._poll_once(http, enrichment_id)
            if hashed is not None and body is not None:
                body, failure = _finished(self._keep(hashed, body), enrichment_id)
        if body is None and failure is None:
            return None
        return self._read(list(searches), enrichment_id, body or {}, failure, 0)

    def _one_call(self, http: httpx.Client, searches: list[Search], deadline: float) -> Lookup:
        data = [
            {**person_fields(search), "enrich_fields": ["contact.phones"], "custom": {"trova_index": str(i)}}
            for i, search in enumerate(searches)
        ]
        request: dict[str, Any] = {"name": f"trova {self.name}", "data": data}
        hashed = self._open_callback(request)
        started = time.monotonic()
        try:
            response = http.post(
                "/api/v2/contact/enrich/bulk",
                content=orjson.dumps(request),
                headers={"Content-Type": "application/json"},
            )
        except httpx.HTTPError as error:
            return Lookup(requests=1, errors=1, failure="error", error=f"POST: {type(error).__name__}")
        failure = _failure_of(response)
        if failure is not None:
            kind, detail, wait_s = failure
            return Lookup(requests=1, errors=1, failure=kind, error=detail, retry_after_s=wait_s)
        enrichment_id = json_object(response).get("enrichment_id")
        if not isinstance(enrichment_id, str) or not enrichment_id:
            return Lookup(requests=1, errors=1, failure="error", error="POST: answer without enrichment_id")
        if hashed is None:
            body, poll_failure = self._wait(http, enrichment_id, deadline)
        else:
            assert self.db is not None
            with self.db.write() as conn:
                callbacks.set_request_id(conn, hashed, enrichment_id)
            body, poll_failure = self._wait_called_back(http, enrichment_id, hashed, deadline)
        if body is None and poll_failure is None:
            return Lookup(
                requests=1,
                failure="deadline",
                error=f"enrichment {enrichment_id} unfinished at the deadline",
                unfinished={hashed or enrichment_id: tuple(searches)},
            )
        latency_ms = int((time.monotonic() - started) * 1000)
        return self._read(searches, enrichment_id, body or {}, poll_failure, latency_ms)

    def _open_callback(self, request: dict[str, Any]) -> str | None:
        """Called back: the callback row (before FullEnrich is asked) and the request's
        ``webhook_url``; the row's token hash, or None when polling only."""
        if self.db is None or self.public_url is None:
            return None
        token, hashed = callbacks.new_token()
        with self.db.write() as conn:
            callbacks.open_callback(conn, self.name, hashed, self._clock())
        request["webhook_url"] = f"{self.public_url}{CALLBACK_PATH}{token}"
        return hashed

    def _keep(self, hashed: str, body: dict[str, Any]) -> dict[str, Any]:
        """A result polled while a callback was expected, kept in the callback row once (a later
        delivery is refused as a replay); the row's payload, whichever came first (unless the
        callback was malformed: then the polled body)."""
        assert self.db is not None
        with self.db.write() as conn:
            callbacks.deliver_hashed(conn, hashed, body, self._clock())
            kept = callbacks.payload_of(conn, hashed)
        return kept if isinstance(kept, dict) and _ended(kept) else body

    def _wait_called_back(
        self, http: httpx.Client, enrichment_id: str, hashed: str, deadline: float
    ) -> Polled:
        """Read the callback row until the callback came; poll FullEnrich as the fallback, first after
        ``poll_interval_s``, then 1.5 times less often (up to ``poll_max_s``); until the deadline."""
        assert self.db is not None
        row_wait = self.options.wait_interval_s
        poll_wait = self.options.poll_interval_s
        next_poll = time.monotonic() + poll_wait
        while True:
            with self.db.read() as conn:
                payload = callbacks.payload_of(conn, hashed)
            if _ended(payload):
                return _finished(payload, enrichment_id)
            now = time.monotonic()
            if now >= next_poll:
                body, failure, wait_s = self._poll_once(http, enrichment_id)
                if body is not None:
                    return _finished(self._keep(hashed, body), enrichment_id)
                if failure is not None:
                    return None, failure
                poll_wait = min(poll_wait * 1.5, self.options.poll_max_s)
                next_poll = now + (wait_s if wait_s is not None else poll_wait)
            left = deadline - time.monotonic()
            if left <= 0:
                return None, None
            time.sleep(max(0.0, min(row_wait, next_poll - time.monotonic(), left)))
            row_wait = min(row_wait * 1.5, _ROW_WAIT_MAX_S)

    def _wait(self, http: httpx.Client, enrichment_id: str, deadline: float) -> Polled:
        """Poll with a growing interval until finished, failed, or the deadline (None, None)."""
        interval = self.options.poll_interval_s
        while True:
            body, failure, wait_s = self._poll_once(http, enrichment_id)
            if body is not None or failure is not None:
                return body, failure
            left = deadline - time.monotonic()
            if left <= 0:
                return None, None
            time.sleep(min(wait_s if wait_s is not None else interval, left))
            interval = min(interval * 1.5, self.options.poll_max_s)

    def _poll_once(
        self, http: httpx.Client, enrichment_id: str
    ) -> tuple[dict[str, Any] | None, tuple[Failure, str, float | None] | None, float | None]:
        """(the finished body, or a failure, or neither while it runs; the wait a 429 asked for)."""
        try:
            response = http.get(f"/api/v2/contact/enrich/bulk/{enrichment_id}")
        except httpx.HTTPError:
            return None, None, None
        body = json_object(response)
        status = body.get("status")
        if (response.status_code == 200 and status == "FINISHED") or status in _ENDED:
            return *_finished(body, enrichment_id), None
        if response.status_code == 429:
            return None, None, retry_after_seconds(response.headers) or 60.0
        if response.status_code in (401, 403):
            refused = f"HTTP {response.status_code}: {body.get('code', 'refused')}"
            return None, ("bad_key", refused, None), None
        if response.status_code == 404:
            return None, ("error", f"enrichment {enrichment_id} not found", None), None
        if response.status_code == 200 and status not in _WAITING:
            return None, ("error", f"malformed answer (status {status!r})", None), None
        return None, None, None

    def _read(
        self,
        searches: list[Search],
        enrichment_id: str,
        body: dict[str, Any],
        failure: tuple[Failure, str, float | None] | None,
        latency_ms: int,
    ) -> Lookup:
        now = self._clock()
        found: dict[Search, tuple[Observation, ...]] = {}
        missed: set[Search] = set()
        calls: list[Call] = []
        records = body.get("data")
        if failure is None and not isinstance(records, list):
            failure = ("error", "malformed answer: no data", None)
        for record in records if isinstance(records, list) else []:
            index = _index_of(record)
            if index is None or not 0 <= index < len(searches):
                continue
            search = searches[index]
            phones = _phones(record.get("contact_info"))
            observations = tuple(observation_of(raw, region, self.name, now) for raw, region in phones)
            billed = any(o.valid and o.line_type in PERSONAL_LINES for o in observations)
            if observations:
                found[search] = observations
            elif failure is None:
                missed.add(search)
            calls.append(
                Call(
                    search=search,
                    outcome="found" if observations else "no_match",
                    billed=billed,
                    cost=self.options.price if billed else 0.0,
                    latency_ms=latency_ms,
                    request_id=enrichment_id,
                    country=next((o.region for o in observations if o.valid and o.region), None),
                    search_country=country_of_search(search),
                )
            )
        kind, detail, wait_s = failure if failure is not None else (None, None, None)
        return Lookup(
            found=found,
            missed=frozenset(missed),
            requests=1,
            errors=1 if kind is not None else 0,
            credits_spent=round(sum(call.cost for call in calls)),
            failure=kind,
            error=detail,
            retry_after_s=wait_s,
            calls=tuple(calls),
        )


_ENDED = {"CREDITS_INSUFFICIENT", "CANCELED"}


def _ended(payload: Any) -> bool:
    """Whether a callback's payload tells how the enrichment ended (a malformed one does not: the
    result is then polled, as when no callback came)."""
    return isinstance(payload, dict) and payload.get("status") in ("FINISHED", *_ENDED)


def _finished(body: Any, enrichment_id: str) -> Polled:
    """A finished enrichment (polled, or called back: the same body), or the failure it ended in."""
    status = body.get("status") if isinstance(body, dict) else None
    if not isinstance(body, dict) or status not in ("FINISHED", *_ENDED):
        return None, ("error", f"malformed answer (status {status!r})", None)
    if status == "CREDITS_INSUFFICIENT":
        return body, ("exhausted", "CREDITS_INSUFFICIENT: out of credits", None)
    if status == "CANCELED":
        return body, ("error", f"enrichment {enrichment_id} was canceled", None)
    return body, None


def _failure_of(response: httpx.Response) -> tuple[Failure, str, float | None] | None:
    status = response.status_code
    if status == 200:
        return None
    code = text(json_object(response).get("code")) or f"HTTP {status}"
    if status in (401, 403):
        return "bad_key", f"{code}: the key was refused", None
    if status == 402:
        return "exhausted", f"{code}: out of credits", None
    if status == 429:
        return "rate_limited", code, retry_after_seconds(response.headers) or 60.0
    return "error", f"POST: HTTP {status} {code}", None


def _index_of(record: Any) -> int | None:
    if not isinstance(record, dict):
        return None
    custom = record.get("custom")
    value = custom.get("trova_index") if isinstance(custom, dict) else None
    return int(value) if isinstance(value, str) and value.isdigit() else None


def _phones(info: Any) -> list[tuple[str, str | None]]:
    """The numbers of ``contact_info``, the most probable first, each once."""
    if not isinstance(info, dict):
        return []
    entries = [info.get("most_probable_phone"), *(info.get("phones") or [])]
    seen: dict[str, str | None] = {}
    for entry in entries:
        if isinstance(entry, dict) and (number := text(entry.get("number"))) and number not in seen:
            region = text(entry.get("region"))
            seen[number] = region.upper() if region else None
    return list(seen.items())


def _merge(parts: list[Lookup]) -> Lookup:
    failed = next((part for part in parts if part.failure is not None), None)
    return Lookup(
        found={s: o for part in parts for s, o in part.found.items()},
        missed=frozenset(s for part in parts for s in part.missed),
        requests=sum(part.requests for part in parts),
        errors=sum(part.errors for part in parts),
        credits_spent=sum(part.credits_spent for part in parts),
        failure=failed.failure if failed else None,
        error=failed.error if failed else None,
        retry_after_s=failed.retry_after_s if failed else None,
        unfinished={k: v for part in parts for k, v in part.unfinished.items()},
        calls=tuple(call for part in parts for call in part.calls),
    )
