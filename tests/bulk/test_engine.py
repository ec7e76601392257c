"""The bulk tool's plan (validation, de-duplication, batches) and its journal (resume after a crash)."""

from __future__ import annotations

import csv
from pathlib import Path

import orjson
import pytest

from trova.bulk.engine import (
    BulkError,
    Journal,
    Plan,
    answers_of,
    build_plan,
    results_of,
    state_path,
    write_output,
)
from trova.bulk.tabular import Table, auto_mapping
from trova.client.models import parse_bulk
from trova.errors import InvalidSearch
from trova.people.models import Search
from trova.people.normalise import search_from_params


def leads(path: Path, rows: list[list[str]]) -> Table:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["first_name", "last_name", "company", "linkedin"])
        writer.writerows(rows)
    return Table.open(path)


def plan_of(table: Table, batch_size: int = 3000) -> Plan:
    return build_plan(table, auto_mapping(table.columns), batch_size)


def test_identical_searches_are_sent_once_and_invalid_rows_cost_nothing(tmp_path: Path) -> None:
    table = leads(
        tmp_path / "in.csv",
        [
            ["", "", "", "https://www.linkedin.com/in/ann-lee/"],
            ["Ann", "Lee", "Acme", "linkedin.com/in/Ann-Lee?trk=x"],
            ["Bob", "", "Acme", ""],
            ["", "", "", "https://example.com/in/bob"],
            ["  Élodie ", "Durand", "Acme Corp.", ""],
            ["elodie", "DURAND", "ACME", ""],
        ],
    )
    plan = plan_of(table)
    assert plan.rows == 6
    assert len(plan.searches) == 3
    assert list(plan.codes) == [0, 1, -1, -2, 2, 2]
    assert plan.reasons == ["Missing mandatory property", "Invalid linkedin_url"]
    assert list(plan.rows_per_search) == [1, 1, 2]
    assert [(u.line, u.reason) for u in plan.examples] == [
        (4, "Missing mandatory property"),
        (5, "Invalid linkedin_url"),
    ]
    assert plan.chunk_searches(0)[2] == {
        "first_name": "Élodie",
        "last_name": "Durand",
        "company_name": "Acme Corp.",
    }


def reference_codes(table: Table) -> list[int]:
    """Each row's search position computed the plain way: normalise every row, first seen first."""
    mapping = auto_mapping(table.columns)
    seen: dict[Search, int] = {}
    codes = []
    for record in table.records():
        params = {f: record.values[c].strip() for c, f in mapping.items() if record.values.get(c, "").strip()}
        try:
            search = search_from_params(params)
        except InvalidSearch:
            codes.append(-1)
            continue
        codes.append(seen.setdefault(search, len(seen)))
    return codes


def test_the_plan_finds_the_searches_that_normalising_every_row_finds(tmp_path: Path) -> None:
    rows = []
    for i in range(300):
        url = f"https://www.linkedin.com/in/p{i % 97}" if i % 3 else ""
        shouted = url.upper().replace("HTTPS://WWW.", "") if i % 7 == 0 else url
        names = [("Ann", "Lee"), ("ann", "LEE"), ("Bob", ""), ("Élodie", "Durand")][i % 4]
        rows.append([*names, ["Acme", "ACME Corp.", "", "Other"][i % 5 % 4], shouted])
    table = leads(tmp_path / "in.csv", rows)
    plan = plan_of(table)
    expected = reference_codes(table)
    assert [max(code, -1) for code in plan.codes] == expected
    assert len(plan.searches) == max(expected) + 1
    assert sum(plan.rows_per_search) == sum(1 for code in expected if code >= 0)


def test_searches_are_split_into_batches(tmp_path: Path) -> None:
    table = leads(tmp_path / "in.csv", [["", "", "", f"linkedin.com/in/p{i}"] for i in range(7)])
    plan = plan_of(table, batch_size=3)
    assert plan.chunk_count == 3
    assert [len(plan.chunk_range(c)) for c in range(3)] == [3, 3, 1]
    assert plan.chunk_searches(2) == [{"linkedin_url": "linkedin.com/in/p6"}]


def test_the_journal_replays_what_happened_and_ignores_a_torn_last_line(tmp_path: Path) -> None:
    plan = plan_of(leads(tmp_path / "in.csv", [["", "", "", f"linkedin.com/in/p{i}"] for i in range(3)]), 2)
    path = state_path(tmp_path / "out.csv")
    journal = Journal(path, plan)
    journal.intend(0, "k0")
    journal.submitted(0, "b0")
    journal.completed(0, [("+33612345678", "FR", "mobile", "crm", "2026-11-02"), None], {1: "s1"})
    assert journal.answer(plan, 0) == ("+33612345678", "FR", "mobile", "crm", "2026-11-02")
    assert journal.missed_search_ids(plan) == {1: "s1"}
    journal.intend(1, "k1")
    with path.open("ab") as handle:
        handle.write(b'{"chunk": 1, "id": "b')
    again = Journal(path, plan)
    assert (again.chunks[0].key, again.chunks[0].bulk_id, again.chunks[0].done) == ("k0", "b0", True)
    assert (again.chunks[1].key, again.chunks[1].bulk_id, again.chunks[1].done) == ("k1", None, False)
    assert again.chunks[0].to_fetch and not again.chunks[1].to_fetch
    assert again.answer(plan, 0) == again.answer(plan, 2) == "pending"


def test_the_journal_never_holds_a_number_found(tmp_path: Path) -> None:
    plan = plan_of(leads(tmp_path / "in.csv", [["", "", "", "linkedin.com/in/a"]]))
    path = state_path(tmp_path / "out.csv")
    journal = Journal(path, plan)
    journal.intend(0, "k0")
    journal.submitted(0, "b0")
    journal.completed(0, [("+33612345678", "FR", "mobile", "crm", "2026-11-02")])
    journal.completed(0, [("+33612345678", "FR", "mobile", "crm", "2026-11-02")])
    text = path.read_bytes()
    assert b"+336" not in text and b"crm" not in text
    assert text.count(b'"done"') == 1


def test_a_version_1_journal_with_results_is_still_read(tmp_path: Path) -> None:
    plan = plan_of(leads(tmp_path / "in.csv", [["", "", "", "linkedin.com/in/a"]]))
    path = state_path(tmp_path / "out.csv")
    header = {"v": 1, "plan": plan.fingerprint(), "chunks": 1}
    entries = [header, {"chunk": 0, "key": "k"}, {"chunk": 0, "id": "b"},
               {"chunk": 0, "answers": [["+33612345678", "FR", "mobile"]]}]
    path.write_bytes(b"".join(orjson.dumps(entry) + b"\n" for entry in entries))
    journal = Journal(path, plan)
    assert journal.chunks[0].done and not journal.chunks[0].to_fetch
    assert journal.answer(plan, 0) == ("+33612345678", "FR", "mobile", "", "")


def test_a_refused_batch_gets_a_new_key_next_time(tmp_path: Path) -> None:
    plan = plan_of(leads(tmp_path / "in.csv", [["", "", "", "linkedin.com/in/a"]]))
    path = state_path(tmp_path / "out.csv")
    journal = Journal(path, plan)
    journal.intend(0, "k0")
    journal.reset(0)
    assert Journal(path, plan).chunks[0].key is None


def test_a_journal_of_other_rows_or_a_damaged_one_is_refused(tmp_path: Path) -> None:
    path = state_path(tmp_path / "out.csv")
    Journal(path, plan_of(leads(tmp_path / "a.csv", [["", "", "", "linkedin.com/in/a"]])))
    other = plan_of(leads(tmp_path / "b.csv", [["", "", "", "linkedin.com/in/b"]]))
    with pytest.raises(BulkError, match="different input"):
        Journal(path, other)
    path.write_bytes(b"garbage\n" + path.read_bytes())
    with pytest.raises(BulkError, match="damaged"):
        Journal(path, other)


def test_dry_run_journal_is_not_created(tmp_path: Path) -> None:
    plan = plan_of(leads(tmp_path / "in.csv", [["", "", "", "linkedin.com/in/a"]]))
    Journal(state_path(tmp_path / "out.csv"), plan, create=False)
    assert not state_path(tmp_path / "out.csv").exists()


def test_results_are_placed_by_index() -> None:
    bulk = parse_bulk(
        {
            "general": {"id": "b", "status": "completed"},
            "stats": {"requested": 3, "finished": 3},
            "results": [
                {"index": 2, "qualification": "found", "number": "+12015550123", "country": "US"},
                {"index": 0, "qualification": "not_found"},
            ],
        }
    )
    assert answers_of(bulk, 3) == [None, None, ("+12015550123", "US", "", "", "")]


def test_the_searches_that_found_nothing_are_known_by_their_id() -> None:
    bulk = parse_bulk(
        {
            "general": {"id": "b", "status": "completed"},
            "stats": {"requested": 2, "finished": 2},
            "results": [
                {"index": 1, "id": "s1", "qualification": "found", "number": "+12015550123"},
                {"index": 0, "id": "s0", "qualification": "not_found"},
            ],
        }
    )
    assert results_of(bulk, 2)[1] == {0: "s0"}


def test_output_rows_say_found_not_found_invalid_or_pending(tmp_path: Path) -> None:
    table = leads(
        tmp_path / "in.csv",
        [
            ["", "", "", "linkedin.com/in/a"],
            ["Bob", "", "", ""],
            ["", "", "", "linkedin.com/in/b"],
            ["", "", "", "linkedin.com/in/c"],
        ],
    )
    plan = plan_of(table, batch_size=2)
    journal = Journal(state_path(tmp_path / "out.csv"), plan)
    journal.completed(0, [("+33612345678", "FR", "mobile", "crm", "2026-11-02"), None])
    summary = write_output(table, plan, journal, tmp_path / "out.csv", table.fmt)
    with (tmp_path / "out.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["phone"], r["phone_status"]) for r in rows] == [
        ("+33612345678", "found"),
        ("", "invalid_input: Missing mandatory property"),
        ("", "not_found"),
        ("", "pending"),
    ]
    assert (summary.rows, summary.statuses["pending"], summary.statuses["invalid_input"]) == (4, 1, 1)


def test_the_why_column_says_why_a_row_found_nothing_or_was_refused(tmp_path: Path) -> None:
    table = leads(
        tmp_path / "in.csv",
        [["", "", "", "linkedin.com/in/a"], ["Bob", "", "", ""], ["", "", "", "linkedin.com/in/b"]],
    )
    plan = plan_of(table)
    journal = Journal(state_path(tmp_path / "out.csv"), plan)
    journal.completed(0, [("+33612345678", "FR", "mobile", "crm", "2026-11-02"), None], {1: "s1"})
    write_output(table, plan, journal, tmp_path / "out.csv", table.fmt, {1: "nobody on record"})
    with (tmp_path / "out.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["phone_status"], r["phone_why"]) for r in rows] == [
        ("found", ""),
        ("invalid_input: Missing mandatory property", "Missing mandatory property"),
        ("not_found", "nobody on record"),
    ]
