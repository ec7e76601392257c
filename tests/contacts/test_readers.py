"""Reading contact files: dialects, encodings, header aliases, line numbers and refusals."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from trova.contacts.models import RawRow, RowProblem
from trova.contacts.readers import phone_cells, read_rows, sniff
from trova.errors import ImportFileRefused


def rows_of(path: Path) -> list[RawRow | RowProblem]:
    return list(read_rows(sniff(path)))


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_bom_is_dropped_and_header_aliases_are_matched_case_insensitively(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.csv",
        "\ufeffLinkedIn Profile,Given_Name,SURNAME,Account Name,Company URL,Mobile_Phone,Country_Code,"
        "Last_Seen,Vendor\n"
        "linkedin.com/in/ada,Ada,Lovelace,Acme,acme.com,+1 570 555 1234,US,2024-01-02,crm\n",
    )
    [row] = rows_of(path)
    assert row == RawRow(
        2,
        {
            "linkedin_url": "linkedin.com/in/ada",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "company_name": "Acme",
            "company_domain": "acme.com",
            "mobile": "+1 570 555 1234",
            "country": "US",
            "observed_at": "2024-01-02",
            "source": "crm",
        },
    )


@pytest.mark.parametrize("delimiter", [";", "\t", ","])
def test_semicolon_tab_and_comma_separators_are_sniffed(tmp_path: Path, delimiter: str) -> None:
    lines = ["name", "company", "phone"], ["Ada Lovelace", "Acme, Inc.", "06 12 34 56 78"]
    text = "\n".join(
        delimiter.join(f'"{cell}"' if delimiter in cell else cell for cell in line) for line in lines
    )
    [row] = rows_of(write(tmp_path / "a.txt", text + "\n"))
    assert isinstance(row, RawRow)
    assert row.fields == {
        "full_name": "Ada Lovelace",
        "company_name": "Acme, Inc.",
        "phone": "06 12 34 56 78",
    }


def test_quoted_newlines_keep_the_line_number_of_the_row_start(tmp_path: Path) -> None:
    text = (
        "first_name,last_name,company,phone\n"
        'Ada,"Love\nlace",Acme,+15705551234\n'
        "\n"
        "Bad,Row,Acme\n"
        "Alan,Turing,Acme,+447400123456\n"
    )
    rows = rows_of(write(tmp_path / "a.csv", text))
    assert [type(row).__name__ for row in rows] == ["RawRow", "RowProblem", "RawRow"]
    first, problem, last = rows
    assert isinstance(first, RawRow) and first.line == 2 and first.fields["last_name"] == "Love\nlace"
    assert str(problem) == "a.csv:5: wrong column count (3 fields, header has 4)"
    assert isinstance(last, RawRow) and last.line == 6


def test_trailing_empty_fields_are_not_a_wrong_column_count(tmp_path: Path) -> None:
    [row] = rows_of(write(tmp_path / "a.csv", "linkedin,phone\nlinkedin.com/in/ada,+15705551234,,\n"))
    assert isinstance(row, RawRow)


def test_two_phone_columns_are_joined_other_duplicates_keep_the_first_value(tmp_path: Path) -> None:
    text = "linkedin,phone,mobile,company,employer\nlinkedin.com/in/ada,+15705551234,+15705550000,Acme,\n"
    [row] = rows_of(write(tmp_path / "a.csv", text))
    assert isinstance(row, RawRow)
    assert phone_cells(row.fields) == [("+15705551234", "phone"), ("+15705550000", "mobile")]
    assert row.fields["company_name"] == "Acme"


def test_gzip_is_read_whatever_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "contacts.data"
    path.write_bytes(gzip.compress(b"linkedin_url\tphone\nlinkedin.com/in/ada\t+15705551234\n"))
    sniffed = sniff(path)
    assert sniffed.compressed and sniffed.delimiter == "\t"
    assert rows_of(path) == [RawRow(2, {"linkedin_url": "linkedin.com/in/ada", "phone": "+15705551234"})]


def test_json_lines_with_aliases_numbers_lists_and_bad_lines(tmp_path: Path) -> None:
    lines = [
        json.dumps(
            {"LinkedIn": "linkedin.com/in/ada", "mobile": ["+15705551234", 33612345678], "date": None}
        ),
        "",
        "{not json",
        json.dumps(["an", "array"]),
        json.dumps({"fullname": "Alan Turing", "company": "Acme", "tel": 447400123456, "extra": {"x": 1}}),
    ]
    rows = rows_of(write(tmp_path / "a.jsonl", "\n".join(lines) + "\n"))
    assert rows[0] == RawRow(1, {"linkedin_url": "linkedin.com/in/ada", "mobile": "+15705551234;33612345678"})
    assert [str(row) for row in rows[1:3]] == [
        "a.jsonl:3: invalid JSON (unexpected character, expected a string key)",
        "a.jsonl:4: invalid JSON (not an object)",
    ]
    assert rows[3] == RawRow(5, {"full_name": "Alan Turing", "company_name": "Acme", "phone": "447400123456"})


def test_invalid_utf8_after_the_sniffed_head_skips_only_that_row(tmp_path: Path) -> None:
    good = "linkedin.com/in/someone,+15705551234\n" * 5000
    path = tmp_path / "a.csv"
    path.write_bytes(
        b"linkedin,phone\n" + good.encode() + b"linkedin.com/in/x\xff,+15705551234\n" + good.encode()
    )
    rows = rows_of(path)
    problems = [row for row in rows if isinstance(row, RowProblem)]
    assert [str(problem) for problem in problems] == ["a.csv:5002: not UTF-8"]
    assert len(rows) == 10001


def test_an_empty_file_is_refused_a_header_alone_has_no_rows(tmp_path: Path) -> None:
    for name, text in (("empty.csv", ""), ("blank.csv", "\n \n")):
        with pytest.raises(ImportFileRefused, match=rf"^{name}: empty \(no header line\)$"):
            sniff(write(tmp_path / name, text))
    assert rows_of(write(tmp_path / "header.csv", "linkedin,phone\n")) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x7fELF\x02\x01\x01\x00\x00\x00", "x: binary file, not CSV or JSON Lines text"),
        (b"caf\xe9 au lait;phone\n", "x: not UTF-8 text (byte 4)"),
        (
            b"Dear team,\nplease find attached the numbers.\n",
            "x: not a CSV with a known header nor JSON Lines",
        ),
        (b'[{"linkedin_url": "x", "phone": "1"}]\n', "x: a JSON array is not JSON Lines"),
        (b"first_name,last_name,company\nAda,Lovelace,Acme\n", "x: no phone column in the header"),
        (b"company,phone\nAcme,+15705551234\n", "x: no column naming the person"),
        (b"\x1f\x8b\x08\x00garbage", "x: not a readable gzip file"),
    ],
)
def test_files_that_are_not_contact_files_are_refused(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "x"
    path.write_bytes(content)
    with pytest.raises(ImportFileRefused) as refused:
        sniff(path)
    assert refused.value.message.startswith(message)


def test_missing_file_is_refused_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(ImportFileRefused, match=r"^nope.csv: cannot read: No such file or directory$"):
        sniff(tmp_path / "nope.csv")
