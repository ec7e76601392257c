"""``find_phones_in_csv``: ``trova bulk`` as one tool call, with MCP progress notifications.

The engine is the bulk tool's own (:mod:`trova.client.bulk`): the same plan, journal, runner and
output, so a call is resumable exactly like ``trova bulk`` (the state lives in
``OUTPUT.trova-state``) and a file run once by either can be continued by the other. The blocking
engine runs in a worker thread; its progress is sent back to the caller as ``notifications/progress``
in rows done out of rows in the file.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio.from_thread
import anyio.to_thread

from trova.bulk.engine import (
    MAX_BATCH_SIZE,
    BulkError,
    Journal,
    Outcome,
    Plan,
    Progress,
    Runner,
    RunOptions,
    Summary,
    build_plan,
    state_path,
    write_output,
)
from trova.bulk.tabular import (
    SEARCH_FIELDS,
    Table,
    apply_overrides,
    auto_mapping,
    identifies_someone,
    output_format,
)
from trova.client import Client, ClientError, InsufficientCreditsError
from trova.errors import TableError
from trova.mcp.tools import RETRY, Reply, ToolFailure

ReportProgress = Callable[[float, float | None, str | None], Coroutine[Any, Any, None]]
LABEL = "trova mcp"


def default_output(input_path: Path) -> Path:
    name = input_path.name
    for suffix in (".gz", ".csv", ".tsv", ".txt", ".jsonl", ".ndjson", ".json"):
        name = name.removesuffix(suffix)
    return input_path.with_name(f"{name}-with-phones.csv")


def confined(path: Path, files_dir: Path | None) -> Path:
    """``path`` (relative ones inside ``files_dir``), refused when it leaves ``files_dir``."""
    if files_dir is None:
        return path.expanduser().resolve()
    root = files_dir.resolve()
    resolved = (root / path).resolve()
    if not resolved.is_relative_to(root):
        raise ToolFailure(f"{path}: outside the directory this server may read and write ({root})")
    return resolved


@dataclass(slots=True)
class CsvJob:
    table: Table
    plan: Plan
    output: Path
    restart: bool

    @classmethod
    def prepare(
        cls, input_text: str, output_text: str | None, column_map: Mapping[str, str], *, restart: bool,
        files_dir: Path | None,
    ) -> CsvJob:
        """Read and plan the file (no request is sent): every problem is a :class:`ToolFailure`."""
        if not input_text.strip():
            raise ToolFailure("input_path must not be empty")
        input_path = confined(Path(input_text), files_dir)
        output = confined(Path(output_text), files_dir) if output_text else default_output(input_path)
        if output == input_path:
            raise ToolFailure("output_path must not be the input file")
        try:
            table = Table.open(input_path)
            columns = table.scan_columns()
            overrides = [f"{column}={field}" for column, field in column_map.items()]
            mapping = apply_overrides(auto_mapping(columns), columns, overrides)
            if not identifies_someone(set(mapping.values())):
                raise ToolFailure(
                    "no column identifies a person (a LinkedIn URL, or names plus a company name or "
                    f"domain); map some with column_map (fields: {', '.join(SEARCH_FIELDS)}; columns: "
                    f"{', '.join(columns)})"
                )
            plan = build_plan(table, mapping, MAX_BATCH_SIZE)
        except (TableError, OSError) as exc:
            raise ToolFailure(str(exc)) from None
        return cls(table, plan, output, restart)

    async def run(self, api_key: str, base_url: str, poll_interval_s: float, report: ReportProgress) -> Reply:
        total = float(self.plan.rows)

        def on_progress(progress: Progress) -> None:
            message = f"{progress.rows_done:,} of {self.plan.rows:,} rows done, {progress.rows_found:,} found"
            anyio.from_thread.run(report, float(progress.rows_done), total, message)

        options = RunOptions(poll_interval_s=poll_interval_s, label=LABEL)
        summary, outcome = await anyio.to_thread.run_sync(
            self._run_blocking, api_key, base_url, options, on_progress
        )
        return self._reply(summary, outcome)

    def _run_blocking(
        self, api_key: str, base_url: str, options: RunOptions, on_progress: Callable[[Progress], None]
    ) -> tuple[Summary, Outcome]:
        state = state_path(self.output)
        try:
            if self.restart:
                state.unlink(missing_ok=True)
            journal = Journal(state, self.plan)
            with Client(api_key, base_url, retry=RETRY) as client:
                try:
                    outcome = Runner(client, self.plan, journal, options, on_progress=on_progress).run()
                except ClientError as exc:
                    outcome = Outcome(stop=exc)
            summary = write_output(self.table, self.plan, journal, self.output, output_format(self.output,
                                                                                           self.table.fmt))
        except (BulkError, TableError, OSError) as exc:
            raise ToolFailure(str(exc)) from None
        return summary, outcome

    def _reply(self, summary: Summary, outcome: Outcome) -> Reply:
        statuses = summary.statuses
        data: dict[str, Any] = {
            "output_path": str(self.output),
            "state_path": str(state_path(self.output)),
            "rows": summary.rows,
            "found": statuses["found"],
            "not_found": statuses["not_found"],
            "invalid_input": statuses["invalid_input"],
            "pending": statuses["pending"],
            "unique_searches": len(self.plan.searches),
            "batches": self.plan.chunk_count,
            "complete": statuses["pending"] == 0,
        }
        done = summary.rows - statuses["pending"]
        if outcome.stop is not None or outcome.failed_batches:
            if isinstance(outcome.stop, InsufficientCreditsError):
                reason = "insufficient credits"
            elif outcome.stop is not None:
                reason = getattr(outcome.stop, "message", None) or str(outcome.stop)
            else:
                reason = f"{outcome.failed_batches} batch(es) failed on the server (refunded)"
            status = getattr(outcome.stop, "status", None)
            raise ToolFailure(
                f"{reason}: {done:,} of {summary.rows:,} rows done, written to {self.output}; call "
                "find_phones_in_csv again with the same arguments to continue (nothing is paid twice)",
                status, data,
            )
        return Reply(
            f"{summary.rows:,} rows: {statuses['found']:,} found, {statuses['not_found']:,} not found, "
            f"{statuses['invalid_input']:,} invalid input -> {self.output}",
            data,
        )
