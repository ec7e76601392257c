"""``trova import`` sees what it reads: the mapping it chose, ``--map``, every phone column with its
kind, XLSX, progress on a terminal, refusals like ``trova bulk``, never-returnable numbers counted.

Real ``trova`` subprocesses on a real SQLite file; the terminal is a real pseudo-terminal.
"""

from __future__ import annotations

import os
import pty
import re
import select
import sqlite3
import subprocess
from pathlib import Path

import pytest
from openpyxl import Workbook

from tests.support.servers import run_trova, trova_command
from trova.store import Database
from trova.store.migrate import upgrade


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "trova.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    db.dispose()
    return path


@pytest.fixture
def env(db_path: Path) -> dict[str, str]:
    return {"TROVA_DATABASE_URL": f"sqlite:///{db_path}", "COLUMNS": "200"}


def stored(db_path: Path) -> list[tuple[str, str, str]]:
    """(raw, E.164, line type) of every stored number, by raw text."""
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute("SELECT raw, coalesce(e164, ''), coalesce(line_type, '') FROM phone_observations")
        return sorted(rows.fetchall())


def mapping_rows(stderr: str) -> dict[str, str]:
    """The rows of the mapping table(s) printed on stderr: column -> field."""
    found: dict[str, str] = {}
    for line in stderr.splitlines():
        cells = [cell.strip() for cell in re.split(r"[│┃]", line)[1:-1]]
        if len(cells) == 2 and cells[0] not in ("column", ""):
            found[cells[0]] = cells[1]
    return found


US_MOBILE = "+1 570 555 1234"  # libphonenumber: fixed_line_or_mobile, so the column's kind decides


def test_hubspot_export_stores_the_mobile_of_its_mobile_column(
    tmp_path: Path, env: dict[str, str], db_path: Path
) -> None:
    path = tmp_path / "hubspot.csv"
    path.write_text(
        "First Name,Last Name,Company Name,Mobile Phone Number,Phone Number,Work Phone\n"
        f"Ada,Lovelace,Acme,{US_MOBILE},,\n"
        "Alan,Turing,Acme,,,+1 570 555 9876\n"
    )
    dry = run_trova("import", "--dry-run", str(path), env=env)
    assert mapping_rows(dry.stderr) == {
        "First Name": "first_name",
        "Last Name": "last_name",
        "Company Name": "company_name",
        "Mobile Phone Number": "phone (mobile)",
        "Phone Number": "phone",
        "Work Phone": "phone (landline)",
    }
    result = run_trova("import", str(path), env=env)
    assert result.stderr == "" and "rows skipped: 0" in result.stdout
    assert stored(db_path) == [
        ("+1 570 555 1234", "+15705551234", "mobile"),
        ("+1 570 555 9876", "+15705559876", "fixed_line"),
    ]


def test_every_phone_column_is_read_an_empty_mobile_does_not_hide_the_cell_phone(
    tmp_path: Path, env: dict[str, str], db_path: Path
) -> None:
    path = tmp_path / "crm.csv"
    path.write_text(
        "LinkedIn,Mobile,Cell Phone,Phone,Fax\n"
        "linkedin.com/in/ada,,+33 6 12 34 56 78,+33 1 42 68 53 00,+33 1 42 68 53 01\n"
    )
    result = run_trova("import", str(path), env=env)
    assert "records stored: 3" in result.stdout
    assert stored(db_path) == [
        ("+33 1 42 68 53 00", "+33142685300", "fixed_line"),
        ("+33 1 42 68 53 01", "+33142685301", "unknown"),
        ("+33 6 12 34 56 78", "+33612345678", "mobile"),
    ]
    assert "numbers read: 3, never returnable: 1\n  unknown: 1" in result.stdout


def test_map_reads_unknown_headers_and_ignores_columns(
    tmp_path: Path, env: dict[str, str], db_path: Path
) -> None:
    path = tmp_path / "fr.csv"
    path.write_text(
        f"Prénom,Nom de famille,Société,Numéro,Phone\nAda,Lovelace,Acme,{US_MOBILE},+1 570 555 0000\n"
    )
    refused = run_trova("import", str(path), env=env, check=False)
    assert refused.returncode == 1 and refused.stderr.startswith("error: fr.csv: no column naming the person")
    maps = ["--map", "Prénom=first_name", "--map", "nom de famille=last_name", "--map", "Société=company"]
    result = run_trova("import", *maps, "--map", "Numéro=mobile", "--map", "Phone=-", str(path), env=env)
    assert "people created: 1" in result.stdout
    assert stored(db_path) == [("+1 570 555 1234", "+15705551234", "mobile")]


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("Company", "error: --map 'Company': expected COLUMN=FIELD"),
        ("Nope=phone", "error: --map 'Nope=phone': no column 'Nope' (columns: LinkedIn, Tel)"),
        ("Tel=bogus", "error: --map 'Tel=bogus': unknown field 'bogus' (fields: linkedin_url, first_name"),
    ],
)
def test_bad_map_items_are_usage_errors(tmp_path: Path, env: dict[str, str], item: str, message: str) -> None:
    path = tmp_path / "a.csv"
    path.write_text("LinkedIn,Tel\nlinkedin.com/in/ada,+33612345678\n")
    result = run_trova("import", "--map", item, str(path), env=env, check=False)
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith(message)


def test_an_empty_file_is_refused_like_bulk_refuses_it(tmp_path: Path, env: dict[str, str]) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    result = run_trova("import", str(path), env=env, check=False)
    assert (result.returncode, result.stdout, result.stderr) == (
        1,
        "",
        "error: empty.csv: empty (no header line)\n",
    )


def test_the_summary_counts_numbers_that_can_never_be_returned_by_reason(
    tmp_path: Path, env: dict[str, str]
) -> None:
    path = tmp_path / "mixed.csv"
    path.write_text(
        "linkedin_url,phone\n"
        "linkedin.com/in/a,+33 6 12 34 56 78\n"
        "linkedin.com/in/b,+1 800 555 0199; +33 6 12\n"
        "linkedin.com/in/c,n/a\n"
        "linkedin.com/in/d,+44 909 876 0000\n"
    )
    result = run_trova("import", str(path), env=env)
    assert "numbers read: 5, never returnable: 4" in result.stdout
    tail = result.stdout.split("never returnable: 4\n", 1)[1].splitlines()
    assert sorted(tail) == ["  invalid: 1", "  premium_rate: 1", "  toll_free: 1", "  unparseable: 1"]


def workbook(path: Path, rows: list[list[object]]) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def test_xlsx_files_are_imported_from_their_first_sheet(
    tmp_path: Path, env: dict[str, str], db_path: Path
) -> None:
    path = workbook(
        tmp_path / "export.xlsx",
        [
            ["LinkedIn", "Mobile Phone", "Country", "Last Seen"],
            ["linkedin.com/in/ada", 612345678, "FR", None],
            [],
            ["linkedin.com/in/bob", None, "FR", None],
        ],
    )
    result = run_trova("import", str(path), env=env)
    assert result.stderr == "export.xlsx:4: no number\n"
    assert "3 rows read from 1 file(s)" not in result.stdout and "2 rows read from 1 file(s)" in result.stdout
    assert stored(db_path) == [("612345678", "+33612345678", "mobile")]


def test_a_file_named_xlsx_that_is_no_workbook_is_refused(tmp_path: Path, env: dict[str, str]) -> None:
    path = tmp_path / "export.xlsx"
    path.write_text("linkedin_url,phone\nlinkedin.com/in/ada,+33612345678\n")
    result = run_trova("import", str(path), env=env, check=False)
    assert (result.returncode, result.stderr) == (
        1,
        "error: export.xlsx: not an XLSX workbook (not a ZIP archive)\n",
    )


def on_a_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run ``trova`` with stderr on a pseudo-terminal: its exit status and what the terminal showed."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        trova_command(*args),
        env={**os.environ, **env, "TERM": "xterm"},
        stdout=subprocess.DEVNULL,
        stderr=follower,
    )
    os.close(follower)
    shown = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 120)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    return process.wait(timeout=120), shown.decode(errors="replace")


def test_a_terminal_shows_the_mapping_and_a_progress_bar_a_pipe_neither(
    tmp_path: Path, env: dict[str, str]
) -> None:
    path = tmp_path / "people.csv"
    with path.open("w") as handle:
        handle.write("linkedin_url,phone\n")
        for i in range(2500):
            handle.write(f"linkedin.com/in/p{i},+1201555{i:04d}\n")
    env = {**env, "TROVA_IMPORT_CHUNK_ROWS": "1000"}
    status, shown = on_a_terminal(["import", str(path)], env)
    assert status == 0
    assert "Column mapping: people.csv" in shown and "━" in shown
    assert "line 2,501" in shown
    piped = run_trova("import", str(path), env=env)
    assert piped.stderr == ""
