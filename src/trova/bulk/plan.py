"""The plan of a lead file for ``trova bulk`` and the web app: each row validated locally, identical
searches found once, split into batches.

``codes[row]`` says which unique search a row asks (or why it cannot be searched); the unique
searches keep the parameters of the row that first asked them, in file order.
"""

from __future__ import annotations

import hashlib
from array import array
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from trova.bulk.tabular import Table
from trova.errors import InvalidSearch
from trova.people.models import Search
from trova.people.normalise import linkedin_key, search_from_params

MAX_BATCH_SIZE = 3000
JOURNAL_VERSION = 1
"""Part of the plan's fingerprint: a journal of another version is not replayed on this plan."""
EXAMPLES_KEPT = 20


@dataclass(frozen=True, slots=True)
class Unusable:
    line: int
    reason: str


@dataclass(slots=True)
class Plan:
    """What a lead file asks for: one code per row and the unique searches, in first-seen order.

    ``codes[row]`` is the index of the row's search, or ``-1 - reason_index`` for an unusable row.
    """

    mapping: Mapping[str, str]
    batch_size: int
    codes: array[int] = field(default_factory=lambda: array("q"))
    reasons: list[str] = field(default_factory=list)
    searches: list[bytes] = field(default_factory=list)
    rows_per_search: array[int] = field(default_factory=lambda: array("q"))
    unusable: Counter[str] = field(default_factory=Counter)
    examples: list[Unusable] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return len(self.codes)

    @property
    def unusable_rows(self) -> int:
        return sum(self.unusable.values())

    @property
    def chunk_count(self) -> int:
        return -(-len(self.searches) // self.batch_size)

    def chunk_range(self, chunk: int) -> range:
        return range(chunk * self.batch_size, min((chunk + 1) * self.batch_size, len(self.searches)))

    def chunk_searches(self, chunk: int) -> list[dict[str, Any]]:
        return [orjson.loads(self.searches[i]) for i in self.chunk_range(chunk)]

    def chunk_rows(self, chunk: int) -> int:
        return sum(self.rows_per_search[i] for i in self.chunk_range(chunk))

    def fingerprint(self) -> str:
        digest = hashlib.sha256(f"{JOURNAL_VERSION}:{self.batch_size}".encode())
        for search in self.searches:
            digest.update(b"\n" + search)
        return digest.hexdigest()

    def add_unusable(self, line: int, reason: str) -> None:
        if reason not in self.reasons:
            self.reasons.append(reason)
        self.codes.append(-1 - self.reasons.index(reason))
        self.unusable[reason] += 1
        if len(self.examples) < EXAMPLES_KEPT:
            self.examples.append(Unusable(line, reason))


def validate(params: Mapping[str, str]) -> Search | str:
    """The normalised search, or the API's reason for refusing it (checked here so it costs nothing)."""
    try:
        return search_from_params(params)
    except InvalidSearch as exc:
        return exc.reason


_profile_key = linkedin_key.__wrapped__
"""Uncached: a file's profile URLs are mostly read once, and a 100,000-row file would fill the
shared cache with entries nobody asks for again."""


class _Dedupe:
    """The position of each row's search among the unique searches, normalising only what it must.

    Two searches with different LinkedIn profile keys are never the same search, and a search with a
    profile key is always valid; so a row whose profile key no earlier row had is a new search,
    found without normalising its names and company. Rows sharing a profile key, and rows with
    none, are compared on their full normalised search (``search_from_params``), as the API would.
    On files of LinkedIn URLs this is what makes a 100,000-row plan take a second, not ten.
    """

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.alone: dict[str, int] = {}
        """Profile key -> the one position holding it so far (its search not normalised)."""
        self.compared: set[str] = set()
        self.by_search: dict[Search, int] = {}

    def position(self, params: dict[str, str]) -> int | str:
        """The row's search position (a new one if needed), or why the row is refused."""
        text = params.get("linkedin_url")
        profile = _profile_key(text) if text is not None else None
        if profile is not None and profile not in self.compared:
            first = self.alone.get(profile)
            if first is None:
                self.alone[profile] = self._add(params)
                return self.alone[profile]
            del self.alone[profile]
            self.compared.add(profile)
            self.by_search[search_from_params(orjson.loads(self.plan.searches[first]))] = first
        search = validate(params)
        if isinstance(search, str):
            return search
        position = self.by_search.get(search)
        if position is None:
            position = self.by_search[search] = self._add(params)
        return position

    def _add(self, params: dict[str, str]) -> int:
        # a copy: orjson's result keeps its 4 KiB working buffer (100,000 searches: 400 MB)
        self.plan.searches.append(bytes(memoryview(orjson.dumps(params))))
        self.plan.rows_per_search.append(0)
        return len(self.plan.searches) - 1


def build_plan(table: Table, mapping: Mapping[str, str], batch_size: int = MAX_BATCH_SIZE) -> Plan:
    """One pass over the file: validate each row locally and de-duplicate identical searches."""
    plan = Plan(dict(mapping), batch_size)
    dedupe = _Dedupe(plan)
    for line, params in table.mapped_rows(mapping):
        position = params if isinstance(params, str) else dedupe.position(params)
        if isinstance(position, str):
            plan.add_unusable(line, position)
            continue
        plan.rows_per_search[position] += 1
        plan.codes.append(position)
    return plan
