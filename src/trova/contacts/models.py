"""Values of the contact-store import: raw rows, normalised records, problems and the report.

The per-row values (:class:`RawRow`, :class:`PhoneValue`, :class:`ContactRecord`) are typed named
tuples rather than dataclasses: an import creates millions of them and sends every one to and from a
worker process, and a tuple is built and pickled several times faster than a frozen dataclass.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

FileFormat = Literal["csv", "jsonl", "xlsx"]
SkipReason = Literal[
    "no number",
    "no person",
    "bad date",
    "wrong column count",
    "invalid JSON",
    "not UTF-8",
    "suppressed",
]

class RawRow(NamedTuple):
    """One data row of a file: its first physical line and its cells by canonical column."""

    line: int
    fields: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class RowProblem:
    """A skipped row: where it is and why (``file.csv:17: no number``)."""

    file: str
    line: int
    reason: SkipReason
    detail: str = ""

    def __str__(self) -> str:
        suffix = f" ({self.detail})" if self.detail else ""
        return f"{self.file}:{self.line}: {self.reason}{suffix}"


class PhoneValue(NamedTuple):
    """One number of a record, as read by ``people.normalise.read_phone`` (``e164`` None: unparseable)."""

    raw: str
    e164: str | None
    valid: bool
    line_type: str | None
    region: str | None
    dedupe_key: str
    do_not_call: bool | None = None
    """A vendor's do-not-call flag (records of upstream sources only; None: not said)."""


class ContactRecord(NamedTuple):
    """A usable row, normalised: who (keys), at which company, which numbers, from whom and when.

    ``first_key``/``last_key`` are empty when the row names the person by LinkedIn only;
    ``company_key``/``domain`` are None when the row carries no company.
    """

    line: int
    linkedin_key: str | None
    first_key: str
    last_key: str
    company_key: str | None
    domain: str | None
    phones: tuple[PhoneValue, ...]
    country_hint: str | None
    source: str
    observed_at: dt.datetime

    @property
    def has_names(self) -> bool:
        return bool(self.first_key and self.last_key and (self.company_key or self.domain))


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import did (or, with ``dry_run``, would do).

    ``records_stored`` counts phone observations added; ``duplicates`` those already in the store
    or repeated in the input. ``problems`` holds the first skipped rows (``problems_not_kept`` counts
    the rest, which were still reported as they happened).
    """

    files: tuple[str, ...]
    rows_read: int
    records_stored: int
    duplicates: int
    people_created: int
    people_updated: int
    skipped: Mapping[SkipReason, int]
    problems: tuple[RowProblem, ...]
    problems_not_kept: int = 0
    dry_run: bool = False
    elapsed_s: float = 0.0
    numbers_read: int = 0
    """Numbers in the rows linked (stored or already known)."""
    unusable_numbers: Mapping[str, int] = field(default_factory=dict)
    """Of those, the ones that may never be returned, by reason (``invalid``, ``toll_free``, ...)."""

    @property
    def rows_skipped(self) -> int:
        return sum(self.skipped.values())

    def summary(self) -> str:
        """One line: rows read, records stored, people created or updated, rows skipped by reason."""
        would = "would be " if self.dry_run else ""
        reasons = ", ".join(f"{reason}: {count:,}" for reason, count in sorted(self.skipped.items()))
        return (
            f"{self.rows_read:,} rows read, {self.records_stored:,} records {would}stored "
            f"({self.duplicates:,} already known), {self.people_created:,} people {would}created, "
            f"{self.people_updated:,} {would}updated, {self.rows_skipped:,} rows skipped"
            + (f" ({reasons})" if reasons else "")
        )
