"""Values of the upstream sources: what a source is asked, what it answers, and how it is doing.

A source answers "what numbers do you hold for this person?" with raw :class:`Observation` values
(the finder's own type); validation and ranking happen once, in the finder, for every source alike.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol
from urllib.parse import quote

from trova.people.models import Observation, Search

SourceKind = Literal["local", "enrow", "http", "pdl", "prospeo", "lusha", "kaspr", "fullenrich", "apollo"]
VENDOR_KINDS: tuple[SourceKind, ...] = ("pdl", "prospeo", "lusha", "kaspr", "fullenrich", "apollo")
Health = Literal["ok", "open", "exhausted", "backing_off", "misconfigured", "disabled"]
"""``open``: the circuit breaker skips the source for a while after repeated failures;
``exhausted``: it answered 402 (no credits left); ``backing_off``: it answered 429;
``disabled``: it refused the key (until ``trova sources reset``)."""
Failure = Literal["error", "exhausted", "rate_limited", "deadline", "bad_key"]
CallOutcome = Literal[
    "found", "no_match", "masked", "bad_key", "no_credits", "rate_limited", "error", "timeout", "malformed"
]
"""What one vendor call came to (``source_calls.outcome``): only ``found`` is a find."""

STAT_COLUMNS = (
    "requests",
    "searches",
    "hits",
    "misses",
    "rejected",
    "errors",
    "fell_through",
    "skipped",
    "cached_misses",
    "credits_spent",
)
"""The per-source counters, in display order (``trova sources stats``, ``/metrics``)."""


def search_key(search: Search) -> str:
    """A stable digest of a normalised search: the negative cache's key for "this person"."""
    parts = (
        search.linkedin_key,
        search.first_key,
        search.last_key,
        search.company_domain,
        search.company_key,
        search.full_name_key,
    )
    text = "\x1f".join(part or "" for part in parts)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def search_fields(search: Search) -> dict[str, str]:
    """The search as API fields an upstream understands (Enrow spellings), from its normalised keys.

    Names and companies are sent in their normalised form (case-folded, ASCII): every Enrow-style
    provider compares them case-insensitively, and the raw spelling is not kept past validation.
    """
    fields: dict[str, str] = {}
    if search.linkedin_key:
        fields["linkedin_url"] = f"https://www.linkedin.com/in/{quote(search.linkedin_key, safe='')}"
    if search.first_key and search.last_key:
        fields["first_name"] = search.first_key
        fields["last_name"] = search.last_key
        fields["full_name"] = search.full_name_key or f"{search.first_key} {search.last_key}"
    if search.company_domain:
        fields["company_domain"] = search.company_domain
    if search.company_key:
        fields["company_name"] = search.company_key
    return fields


@dataclass(frozen=True, slots=True)
class Call:
    """One request sent to a vendor about one search: a ``source_calls`` row once accounted."""

    search: Search
    outcome: CallOutcome
    billed: bool
    cost: float
    latency_ms: int
    request_id: str | None = None
    country: str | None = None
    """The region of the number found."""
    search_country: str | None = None
    """The country the search is about (``order.country_of_search``): the cost order's statistics."""


@dataclass(frozen=True, slots=True)
class Lookup:
    """What one source said about a batch of searches.

    ``found``: the observations it reported per search (unvalidated; may be empty for none);
    ``missed``: searches it answered with "nothing" (remembered for ``negative_ttl_days``);
    searches in neither were not answered (error, deadline, rate limit) and fall through without
    being remembered. ``requests``/``errors``: calls sent and calls that failed after their retries;
    ``failure`` says why the source stopped early, ``error`` the detail.
    """

    found: Mapping[Search, Sequence[Observation]] = field(default_factory=dict)
    missed: frozenset[Search] = frozenset()
    requests: int = 0
    errors: int = 0
    credits_spent: int = 0
    failure: Failure | None = None
    error: str | None = None
    retry_after_s: float | None = None
    unfinished: Mapping[str, tuple[Search, ...]] = field(default_factory=dict)
    """Upstream batches still running at the deadline (upstream id -> its searches, in index order):
    already paid for, so a later step collects them instead of asking again."""
    calls: tuple[Call, ...] = ()
    """Every request sent to a vendor (vendor kinds only), with its cost and outcome."""


def search_to_json(search: Search) -> list[str | None]:
    return [
        search.linkedin_key,
        search.first_key,
        search.last_key,
        search.company_domain,
        search.company_key,
        search.full_name_key,
    ]


def search_from_json(value: list[str | None]) -> Search:
    linkedin, first, last, domain, company, full = value
    return Search(linkedin, first, last, domain, company, full)


class Source(Protocol):
    """An upstream asked for searches the sources before it could not answer."""

    name: str
    kind: SourceKind

    def lookup_many(self, searches: Sequence[Search], deadline: float) -> Lookup:
        """Ask about every search, stopping by ``deadline`` (``time.monotonic()``); never raises for
        an upstream problem: it is reported in :attr:`Lookup.failure`."""
        ...


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """The breaker's row for one source."""

    source: str
    consecutive_failures: int = 0
    open_until: dt.datetime | None = None
    exhausted_at: dt.datetime | None = None
    backoff_until: dt.datetime | None = None
    last_error: str | None = None
    last_error_at: dt.datetime | None = None
    last_success_at: dt.datetime | None = None
    disabled_at: dt.datetime | None = None
    disabled_reason: str | None = None


@dataclass(frozen=True, slots=True)
class SourceStats:
    """The counters of one source, summed over a period."""

    source: str
    requests: int = 0
    searches: int = 0
    hits: int = 0
    misses: int = 0
    rejected: int = 0
    errors: int = 0
    fell_through: int = 0
    skipped: int = 0
    cached_misses: int = 0
    credits_spent: int = 0

    def as_row(self) -> dict[str, int]:
        return {name: int(getattr(self, name)) for name in STAT_COLUMNS}
