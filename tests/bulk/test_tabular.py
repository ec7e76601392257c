"""Reading and writing lead files: formats, column mapping, malformed rows, atomic output."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import pytest

from trova.bulk.tabular import (
    Table,
    TableFormat,
    TableWriter,
    apply_overrides,
    auto_mapping,
    identifies_someone,
    output_format,
)
from trova.errors import TableError


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize(
    ("name", "text", "kind", "delimiter"),
    [
        ("a.csv", "first name;last name\nA;B\n", "csv", ";"),
        ("a.csv", "\ufefffirst name,last name\nA,B\n", "csv", ","),
        ("a.tsv", "first name\tlast name\nA\tB\n", "tsv", "\t"),
        ("a.txt", "first name\tlast name\nA\tB\n", "tsv", "\t"),
        ("leads", '{"first name": "A", "last name": "B"}\n', "jsonl", ","),
    ],
)
def test_formats_and_delimiters_are_detected(
    tmp_path: Path, name: str, text: str, kind: str, delimiter: str
) -> None:
    table = Table.open(write(tmp_path / name, text))
    assert (table.fmt.kind, table.fmt.delimiter) == (kind, delimiter)
    assert table.scan_columns() == ["first name", "last name"]
    assert [dict(r.values) for r in table.records()] == [{"first name": "A", "last name": "B"}]


def test_gzip_input(tmp_path: Path) -> None:
    path = tmp_path / "leads.csv.gz"
    path.write_bytes(gzip.compress(b"linkedin\nlinkedin.com/in/a\n"))
    table = Table.open(path)
    assert (table.fmt.kind, table.fmt.gzip) == ("csv", True)
    assert [r.values["linkedin"] for r in table.records()] == ["linkedin.com/in/a"]


def test_line_numbers_count_quoted_newlines_and_skip_blank_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", 'name,company\n"Ann\nLee",Acme\n\nBob,Globex,extra\nCid\n')
    records = list(Table.open(path).records())
    assert [(r.line, r.problem) for r in records] == [
        (2, None),
        (5, "wrong column count (expected 2, got 3)"),
        (6, "wrong column count (expected 2, got 1)"),
    ]
    assert records[1].extra == ("extra",)
    assert records[2].values == {"name": "Cid"}


def test_files_that_are_not_tables_are_refused_with_a_clear_reason(tmp_path: Path) -> None:
    with pytest.raises(TableError, match="no such file"):
        Table.open(tmp_path / "missing.csv")
    with pytest.raises(TableError, match="binary content"):
        Table.open(write(tmp_path / "a.csv", "\x00\x01\x02"))
    with pytest.raises(TableError, match="is empty"):
        Table.open(write(tmp_path / "b.csv", "\n\n"))
    latin = write(tmp_path / "c.csv", "name\nJos\u00e9\n", "latin-1")
    with pytest.raises(TableError, match="--encoding"):
        list(Table.open(latin).records())
    assert [r.values["name"] for r in Table.open(latin, "latin-1").records()] == ["Jos\u00e9"]


def test_columns_are_mapped_by_the_import_aliases() -> None:
    columns = [
        "ID",
        "First Name",
        "LAST_NAME",
        "Organization",
        "Company URL",
        "LinkedIn Profile",
        "Name",
        "Company",
    ]
    assert auto_mapping(columns) == {
        "First Name": "first_name",
        "LAST_NAME": "last_name",
        "Organization": "company_name",
        "Company URL": "company_domain",
        "LinkedIn Profile": "linkedin_url",
        "Name": "full_name",
    }


def test_overrides_map_ignore_and_refuse_unknown_names() -> None:
    columns = ["who", "Company", "site"]
    mapping = apply_overrides(
        auto_mapping(columns), columns, ["WHO=linkedin", "company=-", "site=company_domain"]
    )
    assert mapping == {"who": "linkedin_url", "site": "company_domain"}
    moved = apply_overrides({"Company": "company_name"}, columns, ["site=company_name"])
    assert moved == {"site": "company_name"}
    with pytest.raises(TableError, match="no column 'nope'"):
        apply_overrides({}, columns, ["nope=linkedin_url"])
    with pytest.raises(TableError, match="unknown field 'phone'"):
        apply_overrides({}, columns, ["who=phone"])
    with pytest.raises(TableError, match="expected COLUMN=FIELD"):
        apply_overrides({}, columns, ["who"])


def test_which_mappings_can_identify_a_person() -> None:
    assert identifies_someone({"linkedin_url"})
    assert identifies_someone({"first_name", "last_name", "company_domain"})
    assert identifies_someone({"full_name", "company_name"})
    assert not identifies_someone({"first_name", "last_name"})
    assert not identifies_someone({"company_name", "company_domain"})


def test_output_format_follows_the_output_suffix(tmp_path: Path) -> None:
    semicolons = TableFormat("csv", ";")
    assert output_format(tmp_path / "o.csv", semicolons) == TableFormat("csv", ";")
    assert output_format(tmp_path / "o.tsv", semicolons) == TableFormat("tsv", "\t")
    assert output_format(tmp_path / "o.jsonl.gz", semicolons) == TableFormat("jsonl", ",", True)
    assert output_format(tmp_path / "o", semicolons) == TableFormat("csv", ";")


def test_writer_keeps_every_cell_and_replaces_the_file_only_on_commit(tmp_path: Path) -> None:
    source = write(tmp_path / "in.csv", "name,phone\nAnn,old\nBob,x,extra\n")
    table = Table.open(source)
    output = write(tmp_path / "out.csv", "previous content")
    writer = TableWriter(output, table.fmt, table.columns, ["phone", "phone_status"])
    for record in table.records():
        writer.write(record, {"phone": "+1", "phone_status": "found"})
    assert output.read_text() == "previous content"
    writer.commit()
    assert output.read_text().splitlines() == [
        "name,phone,phone_status",
        "Ann,+1,found",
        "Bob,+1,found,extra",
    ]
    assert not list(tmp_path.glob(".out.csv.*"))


def test_jsonl_output_keeps_the_original_json_types(tmp_path: Path) -> None:
    source = write(tmp_path / "in.jsonl", '{"id": 7, "ok": true, "tags": ["a"]}\n[1]\n')
    table = Table.open(source)
    output = tmp_path / "out.jsonl.gz"
    writer = TableWriter(output, output_format(output, table.fmt), table.scan_columns(), ["phone_status"])
    for record in table.records():
        writer.write(record, {"phone_status": "x"})
    writer.commit()
    lines = gzip.decompress(output.read_bytes()).decode().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"id": 7, "ok": True, "tags": ["a"], "phone_status": "x"},
        {"input": "[1]", "phone_status": "x"},
    ]


def test_an_xlsx_lead_file_is_streamed_from_its_first_sheet(tmp_path: Path) -> None:
    from openpyxl import Workbook

    path = tmp_path / "leads.xlsx"
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["First Name", "Last Name", "Website", "Joined", "Score"])
    sheet.append(["Élodie", "Durand", "acme.fr", dt.datetime(2024, 1, 2, 8, 0), 3.0])
    sheet.append([])
    sheet.append(["Bob", None, None, None, None, "extra"])
    book.create_sheet("other").append(["not", "read"])
    book.save(path)
    table = Table.open(path)
    assert table.fmt.kind == "xlsx" and table.columns == [
        "First Name",
        "Last Name",
        "Website",
        "Joined",
        "Score",
    ]
    records = list(table.records())
    assert [record.line for record in records] == [2, 4]
    assert dict(records[0].values) == {
        "First Name": "Élodie",
        "Last Name": "Durand",
        "Website": "acme.fr",
        "Joined": "2024-01-02T08:00:00",
        "Score": "3",
    }
    assert records[1].problem == "wrong column count (expected 5, got 6)" and records[1].extra == ("extra",)


def test_xlsx_output_is_a_workbook_of_text_cells_and_csv_gets_a_bom_on_request(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    source = tmp_path / "in.csv"
    source.write_text('name,note\nAnn,=HYPERLINK("x")\n')
    table = Table.open(source)
    assert output_format(tmp_path / "out.xlsx", table.fmt).kind == "xlsx"
    assert output_format(tmp_path / "out.csv", TableFormat("xlsx")) == TableFormat("csv", ",")
    assert output_format(tmp_path / "out.csv", table.fmt, bom=True).bom
    for name in ("out.xlsx", "out.csv"):
        fmt = output_format(tmp_path / name, table.fmt, bom=True)
        writer = TableWriter(tmp_path / name, fmt, table.columns, ["phone"])
        for record in table.records():
            writer.write(record, {"phone": "+33612345678"})
        writer.commit()
    book = load_workbook(tmp_path / "out.xlsx")
    sheet = book.worksheets[0]
    assert [[cell.value for cell in row] for row in sheet.iter_rows()] == [
        ["name", "note", "phone"],
        ["Ann", '=HYPERLINK("x")', "+33612345678"],
    ]
    assert sheet["B2"].data_type == "s"
    assert (tmp_path / "out.csv").read_bytes().startswith(b"\xef\xbb\xbfname,note,phone\r\n")
    assert not list(tmp_path.glob(".*.tmp"))
