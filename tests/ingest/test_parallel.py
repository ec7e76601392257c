"""Reading and normalising in reader processes gives exactly what a sequential read gives."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import os
import signal
from collections.abc import Generator
from pathlib import Path
from typing import Any, cast

import pytest

from trova.contacts.models import RowProblem
from trova.contacts.normalise import FileToRead
from trova.contacts.readers import sniff
from trova.errors import ImportFailed
from trova.ingest import parallel as reader_processes
from trova.ingest.parallel import normalised_chunks

NOW = dt.datetime(2026, 11, 28, 12, 0, 0)
HEADER = "linkedin_url,first_name,last_name,company_name,company_domain,phone,country,observed_at"


def write_files(tmp_path: Path, rows: int) -> list[Path]:
    crm = tmp_path / "crm.csv"
    crm.write_text(
        "\n".join(
            [HEADER]
            + [f"linkedin.com/in/c{i},Ann,Lee{i},Acme,,+1570555{i:04d},,2024-01-02" for i in range(rows)]
            + ["linkedin.com/in/nobody,,,,,,,"]
        )
        + "\n",
        encoding="utf-8",
    )
    tsv = tmp_path / "vendor.tsv"
    tsv.write_text(
        "\n".join(
            ["first_name\tlast_name\tcompany_domain\tphone\tcountry"]
            + [f"Bo\tKim{i}\tbeta.co.uk\t07700 9{i % 100_000:05d}\tGB" for i in range(rows)]
        )
        + "\n",
        encoding="utf-8",
    )
    feed = tmp_path / "feed.jsonl"
    lines = [
        json.dumps({"linkedin": f"https://www.linkedin.com/in/j{i}/", "phone": [f"+3361234{i % 10_000:04d}"]})
        for i in range(rows)
    ]
    feed.write_text("\n".join([*lines[:3], "not json", *lines[3:]]) + "\n", encoding="utf-8")
    return [crm, tsv, feed]


def to_read(paths: list[Path]) -> list[FileToRead]:
    return [FileToRead(sniff(path), path.name) for path in paths]


@pytest.fixture(autouse=True)
def always_parallel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader_processes, "PARALLEL_MIN_BYTES", 0)


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_readers_give_the_sequential_chunks_in_order(tmp_path: Path, workers: int) -> None:
    files = to_read(write_files(tmp_path, 700))
    sequential = [(file.name, chunk) for file, chunk in normalised_chunks(files, NOW, 250, 0)]
    parallel = [(file.name, chunk) for file, chunk in normalised_chunks(files, NOW, 250, workers)]
    assert parallel == sequential
    assert [name for name, _ in sequential] == ["crm.csv"] * 3 + ["vendor.tsv"] * 3 + ["feed.jsonl"] * 3
    problems = [str(item) for _, chunk in parallel for item in chunk if isinstance(item, RowProblem)]
    assert problems == [
        "crm.csv:702: no number",
        "feed.jsonl:4: invalid JSON (invalid literal, expected 'null')",
    ]
    assert multiprocessing.active_children() == []


def test_a_file_that_cannot_be_read_fails_the_import_with_its_name(tmp_path: Path) -> None:
    crm, tsv, _ = write_files(tmp_path, 10)
    files = to_read([crm, tsv])
    tsv.unlink()
    tsv.mkdir()
    read = normalised_chunks(files, NOW, 4, 1)
    assert [file.name for file, _ in (next(read), next(read), next(read))] == ["crm.csv"] * 3
    with pytest.raises(ImportFailed, match=r"^vendor\.tsv: IsADirectoryError"):
        list(read)
    assert multiprocessing.active_children() == []


def test_a_reader_that_dies_fails_the_import_instead_of_hanging(tmp_path: Path) -> None:
    files = to_read(write_files(tmp_path, 3000))
    read = normalised_chunks(files, NOW, 50, 1)
    next(read)
    (reader,) = multiprocessing.active_children()
    os.kill(reader.pid or 0, signal.SIGKILL)
    with pytest.raises(ImportFailed, match=r"the reader process stopped \(exit code -9\)"):
        for _ in read:
            pass
    assert multiprocessing.active_children() == []


def test_a_writer_that_stops_early_stops_its_readers(tmp_path: Path) -> None:
    files = to_read(write_files(tmp_path, 3000))
    read = cast(Generator[Any, None, None], normalised_chunks(files, NOW, 50, 2))  # closing is its contract
    next(read)
    assert len(multiprocessing.active_children()) == 2
    read.close()
    assert multiprocessing.active_children() == []


def test_readers_read_workbooks_and_mapped_phone_columns_as_a_sequential_read_does(tmp_path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(["Profil", "Mobile Phone Number", "Phone Number", "Cell Phone"])
    for i in range(600):
        sheet.append([f"linkedin.com/in/x{i}", None, None, f"+1 570 555 {i:04d}"])
    book.save(tmp_path / "export.xlsx")
    csv_file = tmp_path / "export.csv"
    csv_file.write_text(
        "Profil,Numéro\n" + "".join(f"linkedin.com/in/y{i},+1570556{i:04d}\n" for i in range(600))
    )
    maps = ["Profil=linkedin_url", "Numéro=mobile"]
    files = [FileToRead(sniff(path, maps), path.name) for path in (tmp_path / "export.xlsx", csv_file)]
    sequential = [chunk for _, chunk in normalised_chunks(files, NOW, 250, 0)]
    parallel = [chunk for _, chunk in normalised_chunks(files, NOW, 250, 2)]
    assert parallel == sequential
    records = [item for chunk in parallel for item in chunk]
    assert len(records) == 1200 and not any(isinstance(item, RowProblem) for item in records)
    assert {
        phone.line_type for item in records if not isinstance(item, RowProblem) for phone in item.phones
    } == {"mobile"}
