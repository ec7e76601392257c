"""Values of the finder: a normalised search, the answer for it, and the outcome stored for it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

LineType = Literal["mobile", "fixed_line_or_mobile", "fixed_line", "voip", "personal_number"]
Qualification = Literal["found", "not_found"]
Rule = Literal[
    "linkedin", "name_company", "nickname", "no_person", "ambiguous", "linkedin_conflict", "no_valid_number"
]
"""Which rule decided a search (``Answer.reason``): the first three found a person, the rest did not
answer (``no_valid_number``: a person was found but none of their numbers may be returned)."""


@dataclass(frozen=True, slots=True)
class Search:
    """A search reduced to the keys the finder compares (docs/finder.md §1).

    Built by ``people.normalise.search_from_params``; at least the LinkedIn key, or both name keys
    plus a company domain or company key, are set. ``full_name_key`` is set when the names came
    from one full-name string: the finder then also tries the other first/last splits of it.
    """

    linkedin_key: str | None = None
    first_key: str | None = None
    last_key: str | None = None
    company_domain: str | None = None
    company_key: str | None = None
    full_name_key: str | None = None
    _hash: int = field(init=False, repr=False, compare=False)
    """The finder keys several dicts by each search of a batch: the hash is worked out once."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash(self._keys()))

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self) -> tuple[type[Search], tuple[str | None, ...]]:
        """Pickled by its keys: string hashes differ between processes, so the hash is not carried."""
        return (Search, self._keys())

    def _keys(self) -> tuple[str | None, ...]:
        return (
            self.linkedin_key,
            self.first_key,
            self.last_key,
            self.company_domain,
            self.company_key,
            self.full_name_key,
        )

    @property
    def has_names(self) -> bool:
        return bool(self.first_key and self.last_key and (self.company_domain or self.company_key))


@dataclass(frozen=True, slots=True)
class Answer:
    """What the finder concluded for one search.

    ``person_key`` names the resolved person (``"p:<id>"`` in the contact store) whether or not a
    number survived, so that copies of one person in a batch can be charged once (docs/finder.md §5).
    ``reason`` is a short machine-readable word saying which rule decided (for ``explain``).
    """

    person_key: str | None
    number: str | None = None
    country: str | None = None
    line_type: LineType | None = None
    sources: tuple[str, ...] = field(default_factory=tuple)
    last_seen: dt.date | None = None
    reason: str = ""
    do_not_call: bool | None = None
    """A source's do-not-call flag for the number (None: no source said)."""

    @property
    def found(self) -> bool:
        return self.number is not None

    @property
    def qualification(self) -> Qualification:
        return "found" if self.found else "not_found"


@dataclass(frozen=True, slots=True)
class Observation:
    """One report, by one source, that a person has a number: a store row or an upstream answer.

    ``e164``/``line_type``/``region`` are libphonenumber's reading of ``raw`` (``e164`` None when it
    did not parse); ranking (``people.rank``) works on these alone, whatever the source.
    """

    e164: str | None
    valid: bool
    line_type: str | None
    region: str | None
    source: str
    observed_at: dt.datetime
    raw: str = ""
    do_not_call: bool | None = None
    """The source's do-not-call flag for this number (None: the source does not say)."""


@dataclass(frozen=True, slots=True)
class SearchOutcome:
    """The result a job step writes for one search (an :class:`Answer` as batches store it).

    Here, below both, because the batch job step writes it and the privacy screen re-checks it
    (``privacy.screening.screen_outcomes``) and audits it (``privacy.audit.audit_outcomes``).
    """

    search_id: str
    qualification: Qualification
    number: str | None = None
    country: str | None = None
    line_type: str | None = None
    source_names: tuple[str, ...] = ()
    last_seen: str | None = None
    person_key: str | None = None
    do_not_call: bool | None = None
