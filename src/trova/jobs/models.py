"""Values of the jobs domain: chunks of a batch, claimed by workers under a lease."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

JobKind = Literal["resolve"]
JobStatus = Literal["queued", "running", "done", "failed"]
AttemptOutcome = Literal["done", "error", "lost", "gave_up"]


@dataclass(frozen=True, slots=True)
class Job:
    """A claimed job: the index range ``first_idx..last_idx`` of one batch, held until ``lease_until``."""

    id: int
    batch_id: str
    first_idx: int
    last_idx: int
    size: int
    attempts: int
    lease_owner: str
    lease_until: dt.datetime
    attempt_id: int


@dataclass(frozen=True, slots=True)
class AttemptTiming:
    """How long one finished attempt took for how many searches (for throughput estimates)."""

    size: int
    seconds: float
