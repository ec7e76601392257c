"""FullEnrich (``kind = "fullenrich"``): an asynchronous vendor, submitted in bulk and polled.

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

Polling is bounded by the step's deadline, with a growing interval (``poll_interval_s``, then
1.5 times longer up to ``poll_max_s``; a 429 waits for its ``Retry-After``). An enrichment still
running at the deadline is already paid for: its id is a ``source_batches`` row, collected by
later steps (in this process, or another one after a restart) for ``collect_within_s``; its
searches are not sent again meanwhile. Callbacks (``webhook_url``) are not used.
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
from trova.sources.config import FullEnrichOptions, secret
from trova.sources.http import observation_of
from trova.sources.models import Call, Failure, Lookup, SourceKind
from trova.sources.order import country_of_search
from trova.sources.vendor import json_object, person_fields, text
from trova.store import utcnow

MAX_PER_CALL = 100
_WAITING = {"CREATED", "IN_PROGRESS", "RATE_LIMIT", "UNKNOWN"}


class FullEnrichSource:
    """FullEnrich's bulk enrichment: one POST per 100 searches, then polls until finished."""

    kind: SourceKind = "fullenrich"

    def __init__(
        self,
        name: str,
        options: FullEnrichOptions,
        *,
        environ: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.name = name
        self.options = options
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
        """An enrichment left running at an earlier deadline: its results once finished, else None."""
        with self._http() as http:
            body, failure, _wait = self._poll_once(http, upstream_id)
        if body is None and failure is None:
            return None
        return self._read(list(searches), upstream_id, body or {}, failure, 0)

    def _one_call(self, http: httpx.Client, searches: list[Search], deadline: float) -> Lookup:
        data = [
            {**person_fields(search), "enrich_fields": ["contact.phones"], "custom": {"trova_index": str(i)}}
            for i, search in enumerate(searches)
        ]
        started = time.monotonic()
        try:
            response = http.post(
                "/api/v2/contact/enrich/bulk",
                content=orjson.dumps({"name": f"trova {self.name}", "data": data}),
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
        body, poll_failure = self._wait(http, enrichment_id, deadline)
        if body is None and poll_failure is None:
            return Lookup(
                requests=1,
                failure="deadline",
                error=f"enrichment {enrichment_id} unfinished at the deadline",
                unfinished={enrichment_id: tuple(searches)},
            )
        latency_ms = int((time.monotonic() - started) * 1000)
        return self._read(searches, enrichment_id, body or {}, poll_failure, latency_ms)

    def _wait(
        self, http: httpx.Client, enrichment_id: str, deadline: float
    ) -> tuple[dict[str, Any] | None, tuple[Failure, str, float | None] | None]:
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
        if response.status_code == 200 and status == "FINISHED":
            return body, None, None
        if status == "CREDITS_INSUFFICIENT":
            return body, ("exhausted", "CREDITS_INSUFFICIENT: out of credits", None), None
        if status == "CANCELED":
            return body, ("error", f"enrichment {enrichment_id} was canceled", None), None
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
