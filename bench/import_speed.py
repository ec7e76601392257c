"""Time ``trova import`` of a generated store and measure its peak memory.

    .venv/bin/python bench/import_speed.py                # ~1,000,000 rows (target: <= 120 s, <= 400 MB)
    .venv/bin/python bench/import_speed.py --rows 100000
    .venv/bin/python bench/import_speed.py --data /tmp/1m # reuse files from bench/generate.py

Generates the records with ``bench/generate.py`` (about 1.9 rows a person) unless ``--data`` names
an existing output, imports them with the real ``trova import`` command into a fresh SQLite file,
polls the process tree's memory with psutil every 50 ms, then imports the same files again (every
row is then already known). Prints wall time, rows per second and peak RSS (the import process
alone, and the whole tree with its normalisation workers).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

RECORD_FILES = ("crm.csv", "vendor_a.tsv", "vendor_b.jsonl", "enrich.csv")
ROWS_PER_PERSON = 1.93
TIME_TARGET_S = 120.0
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


def rows_read(output: str) -> int:
    first = output.strip().splitlines()[0]
    return int(first.split(" rows read")[0].replace(",", "").split()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="about this many rows to generate")
    parser.add_argument("--data", type=Path, help="an existing bench/generate.py output directory")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="trova-import-speed-") as scratch:
        data = args.data or Path(scratch) / "data"
        if args.data is None:
            print(f"generating about {args.rows:,} rows ...", file=sys.stderr)
            generate(args.rows, data)
        files = [data / name for name in RECORD_FILES if (data / name).exists()]
        database_url = f"sqlite:///{Path(scratch) / 'import.db'}"
        migrate = [sys.executable, "-m", "trova", "migrate"]
        subprocess.run(migrate, env={**os.environ, "TROVA_DATABASE_URL": database_url}, check=True)
        first_s, main_mb, tree_mb, output = timed_import(files, database_url)
        rows = rows_read(output)
        print(output.strip())
        print(
            f"first import: {rows:,} rows in {first_s:.1f}s ({rows / first_s:,.0f} rows/s); "
            f"peak RSS {main_mb:.0f} MB (import process), {tree_mb:.0f} MB (with workers)"
        )
        again_s, _, again_tree_mb, _ = timed_import(files, database_url)
        print(
            f"re-import (all known): {again_s:.1f}s ({rows / again_s:,.0f} rows/s); "
            f"peak RSS {again_tree_mb:.0f} MB"
        )
        scaled = first_s * 1_000_000 / rows
        verdict = "MET" if scaled <= TIME_TARGET_S and tree_mb <= RSS_TARGET_MB else "NOT MET"
        print(
            f"target: 1,000,000 rows <= {TIME_TARGET_S:.0f}s and <= {RSS_TARGET_MB:.0f} MB: "
            f"{scaled:.0f}s per million rows, {tree_mb:.0f} MB: {verdict}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
