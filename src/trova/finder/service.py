"""The finder's entry point: ``Finder.resolve_many`` (STUB until the finder issue lands)."""

from __future__ import annotations

from collections.abc import Sequence

from trova.finder.models import Answer, Search
from trova.store import Database


class Finder:
    """Resolves normalised searches to answers; pure of HTTP, batches, credits and jobs."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def resolve_many(self, searches: Sequence[Search]) -> list[Answer]:
        """One answer per search, in order. Batch-oriented: a handful of queries per call."""
        return [Answer(person_key=None, reason="stub") for _ in searches]
