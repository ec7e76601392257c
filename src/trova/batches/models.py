"""Values of the batches domain: submitted searches, batches and their results."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from trova.accounts.models import Split
from trova.people.models import SearchOutcome

BatchKind = Literal["single", "bulk"]
BatchStatus = Literal["ongoing", "completed", "failed"]
SearchStatus = Literal["pending", "done"]
Qualification = Literal["found", "not_found"]

SINGLE_EVENT = "single_phone_search_finished"
BULK_EVENT = "bulk_phone_search_finished"


@dataclass(frozen=True, slots=True)
class NewSearch:
    """One search as submitted: the fields as sent (minus ``custom``/``settings``) and its custom value."""

    params: dict[str, Any]
    custom: Any = None
    has_custom: bool = False


@dataclass(frozen=True, slots=True)
class Submission:
    """A validated request, ready to be stored: one search for ``single``, 1..3,000 for ``bulk``."""

    kind: BatchKind
    searches: tuple[NewSearch, ...]
    webhook_url: str | None = None
    custom: Any = None
    has_custom: bool = False


@dataclass(frozen=True, slots=True)
class Submitted:
    """What the 201 answer reports about a stored batch."""

    id: str
    kind: BatchKind
    credits: Split
    requested: int
    estimated_duration_min: int | None
    """Minutes until a bulk batch is done; None for a single search, whose answer tells none."""


@dataclass(frozen=True, slots=True)
class Batch:
    id: str
    account_id: int
    kind: BatchKind
    status: BatchStatus
    custom: Any
    has_custom: bool
    webhook_url: str | None
    requested: int
    finished: int
    price: int
    reserved: Split
    created_at: dt.datetime
    completed_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class SearchRow:
    """A stored search and, once done, its result."""

    id: str
    index: int
    params: Any
    custom: Any
    has_custom: bool
    status: SearchStatus
    qualification: Qualification | None
    number: str | None
    country: str | None
    line_type: str | None
    source_names: tuple[str, ...]
    last_seen: str | None = None
    do_not_call: bool | None = None


@dataclass(frozen=True, slots=True)
class PendingSearch:
    """What a job step needs of a search it still has to resolve."""

    id: str
    index: int
    params: Any
    reserved: Split


@dataclass(frozen=True, slots=True)
class ChunkOutcomes:
    """A job's outcomes ready to be stored: for searches of ``pending`` (re-read as still pending
    in the recording transaction), of ``batch``; ``job_ran`` False for a job given up."""

    batch: Batch
    pending: Sequence[PendingSearch]
    outcomes: Sequence[SearchOutcome]
    job_ran: bool = True


@dataclass(frozen=True, slots=True)
class BatchStats:
    """Counts and the final charge of a batch, computed from its searches and the ledger."""

    requested: int
    finished: int
    found: int
    valid: int
    credits_cost: int
    credits_to_refund: int


@dataclass(frozen=True, slots=True)
class BulkReport:
    """A bulk batch as GET /phone/bulk reports it: while ongoing only the batch (its counters);
    once finished also its stats and every search in index order."""

    batch: Batch
    stats: BatchStats | None = None
    rows: tuple[SearchRow, ...] = ()
