"""The journal of ``trova bulk`` (``<output>.trova-state``): what resuming a run needs, and nothing more.

It is JSON Lines, each entry fsynced: a header with the plan's fingerprint, then per batch its
``Idempotency-Key`` (written *before* the batch is posted), its id once the server answered, and a
``done`` mark once it completed. The numbers found are never written to it: they stay in memory
for the run, and a resumed run fetches the results of the batches already done from the server
(``GET /phone/bulk``, free), so a journal left behind by an interrupted run or ``--keep-state``
holds no personal data. Journals of version 1, which held each batch's results, are still read.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from trova.client import ClientError

if TYPE_CHECKING:
    from trova.bulk.plan import Plan

STATE_SUFFIX = ".trova-state"

Answer = tuple[str, str, str, str, str] | None
"""(number, country, line_type, sources joined by ``;``, last_seen) when found."""


class BulkError(ClientError):
    """A fatal problem of the bulk run, said in one line."""


def state_path(output: Path) -> Path:
    return output.with_name(output.name + STATE_SUFFIX)


@dataclass(slots=True)
class ChunkState:
    """One batch: its key and id (journaled), whether it completed (journaled), and its results
    (in memory only; ``missed`` maps a position in the batch to the id of a search that found nothing)."""

    key: str | None = None
    bulk_id: str | None = None
    done: bool = False
    answers: list[Answer] | None = None
    missed: dict[int, str] = field(default_factory=dict)

    @property
    def to_fetch(self) -> bool:
        """Completed in an earlier run: its results are read again from the server."""
        return self.done and self.answers is None


def _answer(value: Any) -> Answer:
    """An answer of a version-1 journal entry (three fields in the oldest ones)."""
    if not value:
        return None
    cells = [str(cell) for cell in value] + [""] * (5 - len(value))
    return (cells[0], cells[1], cells[2], cells[3], cells[4])


class Journal:
    """The append-only, fsynced record of one bulk run (see the module docstring for why)."""

    def __init__(self, path: Path, plan: Plan, *, create: bool = True) -> None:
        """Load the journal at ``path``, or start one (``create=False`` only reads: for dry runs)."""
        self.path = path
        self.chunks = [ChunkState() for _ in range(plan.chunk_count)]
        self.fingerprint = plan.fingerprint()
        if path.exists():
            self._load()
        elif create:
            self._append({"v": 2, "plan": self.fingerprint, "chunks": plan.chunk_count})

    @property
    def chunks_done(self) -> int:
        return sum(1 for state in self.chunks if state.done)

    def _load(self) -> None:
        lines = self.path.read_bytes().splitlines()
        entries: list[dict[str, Any]] = []
        for number, line in enumerate(lines, start=1):
            try:
                entry = orjson.loads(line)
            except orjson.JSONDecodeError:
                if number == len(lines):
                    break  # torn by a crash mid-write: that entry never happened
                raise BulkError(f"{self.path} is damaged (line {number}); delete it to start over") from None
            entries.append(entry)
        if not entries or entries[0].get("plan") != self.fingerprint:
            raise BulkError(
                f"{self.path} belongs to a different input, mapping or batch size; re-run with the "
                "original ones, or delete it to start over (its batches would be charged again)"
            )
        for entry in entries[1:]:
            self._replay(entry)

    def _replay(self, entry: Mapping[str, Any]) -> None:
        state = self.chunks[int(entry["chunk"])]
        if "key" in entry:
            state.key, state.bulk_id = str(entry["key"]), None
        if "id" in entry:
            state.bulk_id = str(entry["id"])
        if entry.get("done") and state.bulk_id is not None:
            state.done = True
        if "answers" in entry:
            state.answers, state.done = [_answer(a) for a in entry["answers"]], True
        if entry.get("reset"):
            state.key = state.bulk_id = None

    def _append(self, entry: Mapping[str, Any]) -> None:
        with open(self.path, "ab") as handle:
            handle.write(orjson.dumps(entry) + b"\n")
            handle.flush()
            os.fsync(handle.fileno())

    def intend(self, chunk: int, key: str) -> None:
        self._append({"chunk": chunk, "key": key})
        self.chunks[chunk].key, self.chunks[chunk].bulk_id = key, None

    def submitted(self, chunk: int, bulk_id: str) -> None:
        self._append({"chunk": chunk, "id": bulk_id})
        self.chunks[chunk].bulk_id = bulk_id

    def completed(self, chunk: int, answers: list[Answer], missed: Mapping[int, str] | None = None) -> None:
        """The batch completed: journal the mark (once), keep its results in memory."""
        state = self.chunks[chunk]
        if not state.done:
            self._append({"chunk": chunk, "done": True})
        state.done, state.answers, state.missed = True, answers, dict(missed or {})

    def reset(self, chunk: int) -> None:
        """Nothing was created (refused, or failed and refunded): the next attempt takes a new key."""
        self._append({"chunk": chunk, "reset": True})
        state = self.chunks[chunk]
        state.key = state.bulk_id = None
        state.done, state.answers = False, None

    def answer(self, plan: Plan, search: int) -> Answer | str:
        """The answer of one unique search, or ``"pending"`` if its results are not in hand."""
        state = self.chunks[search // plan.batch_size]
        if state.answers is None:
            return "pending"
        return state.answers[search % plan.batch_size]

    def missed_search_ids(self, plan: Plan) -> dict[int, str]:
        """Unique search index -> the server's id of that search, for every search that found nothing."""
        return {
            chunk * plan.batch_size + position: search_id
            for chunk, state in enumerate(self.chunks)
            for position, search_id in state.missed.items()
        }
