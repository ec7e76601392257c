"""Time ``trova import`` of a generated store against the phone-number floor, and its peak memory.

    .venv/bin/python bench/import_speed.py               # ~1,000,000 rows (target: <= 1.25x floor, <= 400 MB)
    .venv/bin/python bench/import_speed.py --rows 100000
    .venv/bin/python bench/import_speed.py --data /tmp/1m # reuse files from bench/generate.py
    .venv/bin/python bench/import_speed.py --data /tmp/1m --postgres  # the same on PostgreSQL, beside

Generates the records with ``bench/generate.py`` (about 1.9 rows a person) unless ``--data`` names
an existing output. First measures the *floor*: one process reading the same files' phone cells
(the standard ``csv`` reader and ``orjson``, columns as ``trova import`` maps them) and parsing and
validating each number with ``phonenumbers`` (``parse`` + ``is_valid_number``, its patterns cached),
nothing else.
Then imports the files with the real ``trova import`` command into a fresh SQLite file (and, with
``--postgres``, into a fresh PostgreSQL database of ``TROVA_TEST_PG_URL``), polling the process
tree's memory with psutil every 50 ms, then imports the same files again (every row is then already
known). Prints wall time, rows per second, the ratio to the floor, peak RSS (the import process
alone, and the whole tree with its reader processes) and the load average beside each figure.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import phonenumbers
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trova.contacts.readers import SniffedFile, sniff
from trova.people.columns import PHONE_FIELDS
from trova.people.normalise import split_phone_cell

RECORD_FILES = ("crm.csv", "vendor_a.tsv", "vendor_b.jsonl", "enrich.csv")
ROWS_PER_PERSON = 1.93
FLOOR_RATIO_TARGET = 1.25
RSS_TARGET_MB = 400.0


def generate(rows: int, out: Path) -> None:
    people = max(100, int(rows / ROWS_PER_PERSON))
    script = Path(__file__).with_name("generate.py")
    subprocess.run(
        [sys.executable, str(script), "--people", str(people), "--searches", "10", "--out", str(out)],
        check=True,
    )


def timed_import(files: list[Path], database_url: str) -> tuple[float, float, float, str]:
    """(seconds, peak RSS MB of the import process, peak RSS MB of its whole tree, its output).

    Also prints the CPU seconds of the import process and of its workers: on a busy machine wall
    time says little, while CPU time bounds what an idle 2-core machine would take.
    """
    env = {**os.environ, "TROVA_DATABASE_URL": database_url}
    command = [sys.executable, "-m", "trova", "import", "--quiet", *map(str, files)]
    started = time.monotonic()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watched = psutil.Process(process.pid)
    peak_main = peak_tree = 0.0
    cpu: dict[int, float] = {}
    while process.poll() is None:
        try:
            children = watched.children(recursive=True)
            main = watched.memory_info().rss
            tree = main + sum(child.memory_info().rss for child in children)
            for each in (watched, *children):
                times = each.cpu_times()
                cpu[each.pid] = times.user + times.system
        except psutil.Error:
            break
        peak_main, peak_tree = max(peak_main, main / 2**20), max(peak_tree, tree / 2**20)
        time.sleep(0.05)
    workers_cpu = sum(seconds for pid, seconds in cpu.items() if pid != process.pid)
    print(
        f"  CPU: import process {cpu.get(process.pid, 0.0):.1f}s, workers {workers_cpu:.1f}s", file=sys.stderr
    )
    output = process.communicate()[0]
    elapsed = time.monotonic() - started
    if process.returncode != 0:
        raise SystemExit(f"trova import failed ({process.returncode}):\n{output}")
    return elapsed, peak_main, peak_tree, output


def file_numbers(file: SniffedFile) -> Iterator[tuple[str, str | None]]:
    """(written number, country cell) of every phone cell of ``file``, read as plainly as can be."""
    phone_at = [i for i, field in enumerate(file.mapping) if field in PHONE_FIELDS]
    country_at = file.mapping.index("country") if "country" in file.mapping else None
    with file.path.open(encoding="utf-8-sig", newline="") as text:
        if file.format == "jsonl":
            phone_keys = [file.columns[i] for i in phone_at]
            country_key = file.columns[country_at] if country_at is not None else None
            for line in text:
                value = orjson.loads(line)
                hint = value.get(country_key) if country_key else None
                for key in phone_keys:
                    if value.get(key):
                        yield value[key], hint
            return
        rows = csv.reader(text, delimiter=file.delimiter)
        next(rows)
        for cells in rows:
            hint = cells[country_at] if country_at is not None else None
            for i in phone_at:
                if cells[i]:
                    yield cells[i], hint


def floor(files: list[Path]) -> tuple[float, int]:
    """(seconds, numbers): one process parsing and validating every number of ``files``, with
    libphonenumber's patterns compiled once (``enable_pattern_cache``), as ``trova import`` does."""
    phonenumbers.enable_pattern_cache()
    started, cpu = time.monotonic(), time.process_time()
    count = 0
    for path in files:
        for cell, hint in file_numbers(sniff(path)):
            region = hint.strip().upper() if hint and hint.strip() else None
            for raw in split_phone_cell(cell):
                text = raw.strip()
                if text.startswith("00"):
                    text = "+" + text[2:]
                try:
                    number = phonenumbers.parse(text, region)
                except phonenumbers.NumberParseException:
                    continue
                phonenumbers.is_valid_number(number)
                count += 1
    print(f"  CPU: floor {time.process_time() - cpu:.1f}s", file=sys.stderr)
    return time.monotonic() - started, count


def load() -> str:
    return "load " + " ".join(f"{value:.2f}" for value in os.getloadavg())


@contextmanager
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database (``TROVA_TEST_PG_URL``), dropped afterwards."""
    from tests.support.databases import fresh_postgres_database

    with fresh_postgres_database() as url:
        yield url


def migrate(database_url: str) -> None:
    """Create the store first: ``trova import`` refuses a database that does not exist."""
    env = {**os.environ, "TROVA_DATABASE_URL": database_url}
    subprocess.run([sys.executable, "-m", "trova", "migrate"], env=env, check=True, capture_output=True)


def rows_read(output: str) -> int:
    first = next(line for line in output.splitlines() if " rows read" in line)
    return int(first.split(" rows read")[0].replace(",", "").split()[-1])


def measure(files: list[Path], database_url: str, label: str, floor_s: float) -> str:
    """Import ``files`` twice into ``database_url``; print the figures; the verdict line."""
    migrate(database_url)
    print(f"{label}: importing ... ({load()})", file=sys.stderr)
    first_s, main_mb, tree_mb, output = timed_import(files, database_url)
    rows = rows_read(output)
    print(output.strip())
    ratio = first_s / floor_s
    print(
        f"{label} first import: {rows:,} rows in {first_s:.1f}s ({rows / first_s:,.0f} rows/s), "
        f"{ratio:.2f}x the floor; peak RSS {main_mb:.0f} MB (import process), "
        f"{tree_mb:.0f} MB (with readers); {load()}"
    )
    again_s, _, again_tree_mb, _ = timed_import(files, database_url)
    print(
        f"{label} re-import (all known): {again_s:.1f}s ({rows / again_s:,.0f} rows/s); "
        f"peak RSS {again_tree_mb:.0f} MB; {load()}"
    )
    met = ratio <= FLOOR_RATIO_TARGET and tree_mb <= RSS_TARGET_MB
    return (
        f"{label}: {ratio:.2f}x the floor (target <= {FLOOR_RATIO_TARGET}x), {tree_mb:.0f} MB "
        f"(target <= {RSS_TARGET_MB:.0f} MB): {'MET' if met else 'NOT MET'}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="about this many rows to generate")
    parser.add_argument("--data", type=Path, help="an existing bench/generate.py output directory")
    parser.add_argument("--postgres", action="store_true", help="also into a fresh PostgreSQL database")
    parser.add_argument("--only-postgres", action="store_true", help="PostgreSQL alone, not SQLite")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="trova-import-speed-") as scratch:
        data = args.data or Path(scratch) / "data"
        if args.data is None:
            print(f"generating about {args.rows:,} rows ...", file=sys.stderr)
            generate(args.rows, data)
        files = [data / name for name in RECORD_FILES if (data / name).exists()]
        print(f"floor: parsing and validating every number in one process ... ({load()})", file=sys.stderr)
        floor_s, numbers = floor(files)
        print(f"floor: {numbers:,} numbers parsed and validated in {floor_s:.1f}s "
              f"({floor_s / numbers * 1e6:.0f} us each); {load()}")
        verdicts = []
        if not args.only_postgres:
            verdicts.append(measure(files, f"sqlite:///{Path(scratch) / 'import.db'}", "SQLite", floor_s))
        if args.postgres or args.only_postgres:
            with postgres_url() as url:
                verdicts.append(measure(files, url, "PostgreSQL", floor_s))
        for verdict in verdicts:
            print(verdict)
    return 0


if __name__ == "__main__":
    sys.exit(main())
