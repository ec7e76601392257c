"""``trova bulk`` with workbooks: an XLSX lead file in, XLSX or CSV (``--excel``: with a BOM) out,
against the server run as a subprocess; a file named ``.xlsx`` that is no workbook is one line."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from tests.cli.test_bulk import bulk_args, error_lines
from tests.client.support import Deployment, contact, deployment
from tests.support.servers import run_trova

KNOWN = range(1, 21)
HEADER = ["id", "First Name", "Last Name", "Website", "LinkedIn", "Note"]


@pytest.fixture(scope="module")
def trova(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with deployment(tmp_path_factory.mktemp("bulk-xlsx")) as dep:
        dep.import_contacts(KNOWN)
        yield dep


def lead_rows() -> list[list[object]]:
    """Rows as a spreadsheet holds them: numbers typed as numbers, accents, an empty cell."""
    rows: list[list[object]] = []
    for i in range(1, 31):
        person = contact(i)
        if i % 2:
            rows.append([i, None, None, None, person.linkedin_url, f"Élodie n°{i}"])
        else:
            rows.append([i, person.first_name, person.last_name, person.company_domain, None, "=1+1"])
    return rows


@pytest.fixture
def workbook(tmp_path: Path) -> Path:
    path = tmp_path / "leads.xlsx"
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER)
    for row in lead_rows():
        sheet.append(row)
    for (note,) in sheet.iter_rows(min_col=6, max_col=6):
        note.data_type = "s"  # text that looks like a formula, as a user may type it: kept as text
    book.create_sheet("ignored").append(["not", "read"])
    book.save(path)
    return path


def expected_phone(i: int) -> str:
    return contact(i).phone if i in KNOWN else ""


def test_an_xlsx_lead_file_gives_an_xlsx_output(trova: Deployment, workbook: Path, tmp_path: Path) -> None:
    key = trova.create_account("xlsx-out", 100_000)
    output = tmp_path / "out.xlsx"
    result = run_trova(*bulk_args(trova, key, workbook, output), env=trova.env)
    assert "30 rows: 20 found, 10 not found" in result.stdout
    book = load_workbook(output, read_only=True)
    rows = [list(row) for row in book.worksheets[0].iter_rows(values_only=True)]
    book.close()
    assert rows[0][: len(HEADER)] == HEADER and rows[0][-6] == "phone" and rows[0][-1] == "phone_status"
    body = rows[1:]
    assert [row[0] for row in body] == [str(i) for i in range(1, 31)]
    assert [row[len(HEADER)] or "" for row in body] == [expected_phone(i) for i in range(1, 31)]
    assert [row[5] for row in body] == [cells[5] for cells in lead_rows()]


def test_csv_output_of_an_xlsx_input_with_excel_starts_with_a_bom(
    trova: Deployment, workbook: Path, tmp_path: Path
) -> None:
    key = trova.create_account("xlsx-csv", 100_000)
    plain, excel = tmp_path / "plain.csv", tmp_path / "excel.csv"
    run_trova(*bulk_args(trova, key, workbook, plain), env=trova.env)
    run_trova(*bulk_args(trova, key, workbook, excel, "--excel"), env=trova.env)
    assert not plain.read_bytes().startswith(b"\xef\xbb\xbf")
    assert excel.read_bytes() == b"\xef\xbb\xbf" + plain.read_bytes()
    with plain.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["phone"] for row in rows] == [expected_phone(i) for i in range(1, 31)]
    assert rows[0]["Note"] == "Élodie n°1"


def test_a_file_named_xlsx_that_is_no_workbook_is_one_line(trova: Deployment, tmp_path: Path) -> None:
    fake = tmp_path / "leads.xlsx"
    fake.write_text("id,LinkedIn\n1,https://www.linkedin.com/in/x\n")
    result = run_trova(*bulk_args(trova, "key", fake, tmp_path / "out.csv"), env=trova.env, check=False)
    assert result.returncode == 1
    assert error_lines(result.stderr) == [f"error: {fake} is not an XLSX workbook (not a ZIP archive)"]
    assert not (tmp_path / "out.csv").exists()


def test_excel_refuses_json_lines_output(trova: Deployment, workbook: Path, tmp_path: Path) -> None:
    result = run_trova(
        *bulk_args(trova, "key", workbook, tmp_path / "out.jsonl", "--excel"), env=trova.env, check=False
    )
    assert result.returncode == 2
    assert error_lines(result.stderr) == [
        "error: --excel adds a byte-order mark to CSV or TSV output, not to JSON Lines"
    ]
