"""The ``enrow`` kind: any Enrow-compatible API (Enrow itself, or another Trova) through its bulk endpoint.

Searches go out ``max_per_call`` (≤ 3,000) at a time through ``POST /phone/bulk`` — never one call
per search — and the results are collected by polling ``GET /phone/bulk`` until the batch is done
or the step's deadline passes (its searches then fall through; the upstream keeps the batch).
Requests go through :class:`trova.client.Client`, which retries 5xx, lost connections and 429s with
backoff; a 402 marks the source exhausted. Each search carries its position as ``custom``, so
results are matched back by index even if an upstream reorders them.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import httpx

from trova.client import (
    ApiError,
    Bulk,
    Client,
    ClientError,
    InsufficientCreditsError,
    RateLimitError,
    RetryPolicy,
)
from trova.people.models import Observation, Search
from trova.sources.config import EnrowOptions, secret
from trova.sources.http import observation_of
from trova.sources.models import Lookup, SourceKind, search_fields
from trova.store import utcnow


class EnrowSource:
    """An Enrow-compatible upstream (``kind = "enrow"``)."""

    kind: SourceKind = "enrow"

    def __init__(
        self,
        name: str,
        options: EnrowOptions,
        *,
        environ: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.name = name
        self.options = options
        self._clock = clock
        self._api_key = secret(options.api_key_env, environ)
        self._transport = transport

    def _client(self) -> Client:
        """One client per step (its connections closed after it), retrying as configured."""
        options = self.options
        return Client(
            api_key=self._api_key,
            base_url=options.base_url,
            timeout_s=options.timeout_s,
            retry=RetryPolicy(
                max_attempts=options.retries + 1,
                backoff_base_s=options.backoff_base_s,
                backoff_cap_s=options.backoff_cap_s,
                max_retry_after_s=options.max_retry_after_s,
            ),
            transport=self._transport,
        )

    def lookup_many(self, searches: Sequence[Search], deadline: float) -> Lookup:
        distinct = list(dict.fromkeys(searches))
        size = self.options.max_per_call
        parts: list[Lookup] = []
        with self._client() as client:
            for start in range(0, len(distinct), size):
                part = self._one_call(client, distinct[start : start + size], deadline)
                parts.append(part)
                if part.failure in ("exhausted", "rate_limited"):
                    break
        return _merge(parts)

    def _one_call(self, client: Client, searches: list[Search], deadline: float) -> Lookup:
        if time.monotonic() >= deadline:
            return Lookup(failure="deadline", error="deadline reached before sending")
        payload = [{**search_fields(search), "custom": str(index)} for index, search in enumerate(searches)]
        try:
            submission = client.submit_bulk(payload)
        except InsufficientCreditsError:
            return Lookup(requests=1, failure="exhausted", error="402 Insufficient credits")
        except RateLimitError as error:
            return Lookup(
                requests=1,
                errors=1,
                failure="rate_limited",
                error="429 Rate limit exceeded",
                retry_after_s=error.retry_after,
            )
        except ApiError as error:
            return Lookup(
                requests=1, errors=1, failure="error", error=f"POST /phone/bulk: HTTP {error.status}"
            )
        except ClientError as error:
            return Lookup(requests=1, errors=1, failure="error", error=f"POST /phone/bulk: {_short(error)}")
        bulk, problem = self._wait(client, submission.id, deadline)
        if bulk is None:
            return Lookup(
                requests=1,
                failure="deadline",
                error=f"upstream batch {submission.id} unfinished at the deadline ({problem})",
                unfinished={submission.id: tuple(searches)},
            )
        if bulk.status == "failed":
            return Lookup(requests=1, errors=1, failure="error", error=f"upstream batch {bulk.id} failed")
        return self._read(searches, bulk)

    def collect(self, upstream_id: str, searches: Sequence[Search]) -> Lookup | None:
        """The results of a batch left running at an earlier deadline; None while it still runs (or
        cannot be read now). Its searches were counted when it was sent: only its answers count."""
        with self._client() as client:
            try:
                bulk = client.get_bulk(upstream_id)
            except ClientError:
                return None
        if not bulk.done:
            return None
        if bulk.status == "failed":
            return Lookup(errors=1, failure="error", error=f"upstream batch {bulk.id} failed")
        return replace(self._read(list(searches), bulk), requests=0)

    def _wait(self, client: Client, bulk_id: str, deadline: float) -> tuple[Bulk | None, str]:
        """Poll until done; None at the deadline. A failing poll is retried at the next interval."""
        problem = "still running"
        interval = self.options.poll_interval_s
        while True:
            try:
                bulk = client.get_bulk(bulk_id)
                if bulk.done:
                    return bulk, ""
                problem = f"{bulk.stats.finished}/{bulk.stats.requested} finished"
            except ClientError as error:
                problem = f"GET /phone/bulk: {_short(error)}"
            left = deadline - time.monotonic()
            if left <= 0:
                return None, problem
            time.sleep(min(interval, left))

    def _read(self, searches: list[Search], bulk: Bulk) -> Lookup:
        now = self._clock()
        found: dict[Search, tuple[Observation, ...]] = {}
        missed: set[Search] = set()
        for position, result in enumerate(bulk.results):
            index = _index(result.custom, result.index, position)
            if index is None or not 0 <= index < len(searches):
                continue
            search = searches[index]
            if result.found and result.number:
                stated = result.line_type
                found[search] = (observation_of(result.number, result.country, self.name, now, stated),)
            elif result.done:
                missed.add(search)
        return Lookup(
            found=found, missed=frozenset(missed), requests=1, credits_spent=bulk.stats.credits_cost or 0
        )


def _index(custom: Any, index: int | None, position: int) -> int | None:
    if isinstance(custom, str) and custom.isdigit():
        return int(custom)
    return index if index is not None else position


def _short(error: BaseException) -> str:
    return str(error).splitlines()[0][:200] if str(error) else type(error).__name__


def _merge(parts: list[Lookup]) -> Lookup:
    found: dict[Search, Sequence[Observation]] = {}
    missed: set[Search] = set()
    for part in parts:
        found.update(part.found)
        missed |= part.missed
    failed = next((part for part in parts if part.failure is not None), None)
    unfinished = {upstream_id: s for part in parts for upstream_id, s in part.unfinished.items()}
    return Lookup(
        found=found,
        missed=frozenset(missed),
        requests=sum(part.requests for part in parts),
        errors=sum(part.errors for part in parts),
        credits_spent=sum(part.credits_spent for part in parts),
        failure=failed.failure if failed else None,
        error=failed.error if failed else None,
        retry_after_s=failed.retry_after_s if failed else None,
        unfinished=unfinished,
    )
