"""Benchmark of the core service: POST /phone/bulk, POST→completed vs the in-process floor, GET, RSS.

    .venv/bin/python bench/api.py                      # 100,000 people, 3,000-search batches
    .venv/bin/python bench/api.py --people 20000 --rounds 3
    .venv/bin/python bench/api.py --postgres           # the same on PostgreSQL, reported beside

Builds (once, cached under --data) a contact store with ``bench/generate.py`` and imports it into a
fresh SQLite file, then starts ``trova serve`` as a subprocess and measures, sequentially:

- POST /phone/bulk of 3,000 searches: latency p50 (each batch runs to completion before the next);
- POST → ``completed``: wall time per batch, against the floor — the same 3,000 ``resolve_many``
  called in this process directly on the same database, in the same run — and their ratio;
- GET /phone/bulk of a completed 3,000-result batch: latency p50;
- the server's resident memory (RSS) at its highest sample, and at the end split into its own
  memory (RssAnon) and the pages of mapped files, the database's included (RssFile).

Each run starts from a fresh copy of the cached store, so earlier runs' batches do not pile up.
With ``--postgres`` that copy is also copied (``trova db copy``) onto a fresh PostgreSQL database
of ``TROVA_TEST_PG_URL`` (dropped afterwards) and measured the same way, first, then SQLite.

Figures depend on the machine and its load: run it on an idle machine to compare.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.databases import fresh_postgres_database  # noqa: E402
from tests.support.servers import TrovaServer, run_trova  # noqa: E402

from trova.accounts.service import verify_copied_balances  # noqa: E402
from trova.batches.service import normalise  # noqa: E402
from trova.finder.service import Finder  # noqa: E402
from trova.ingest.service import import_paths  # noqa: E402
from trova.settings import get_settings  # noqa: E402
from trova.sources.waterfall import from_settings  # noqa: E402
from trova.store import Database  # noqa: E402
from trova.store.copy import copy_database  # noqa: E402
from trova.store.migrate import upgrade  # noqa: E402

RECORD_FILES = ("crm.csv", "vendor_a.tsv", "vendor_b.jsonl", "enrich.csv")


def ensure_data(data: Path, people: int, searches: int) -> Path:
    marker = data / "searches.jsonl"
    if not marker.exists():
        print(f"generating {people:,} people into {data} …", flush=True)
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "bench" / "generate.py"),
                "--people",
                str(people),
                "--searches",
                str(searches),
                "--out",
                str(data),
            ],
            check=True,
        )
    return data


def ensure_database(data: Path, work: Path) -> str:
    db_file = work / f"bench-{data.name}.db"
    url = f"sqlite:///{db_file}"
    if not db_file.exists():
        partial = work / f"partial-{data.name}.db"
        for leftover in work.glob(f"{partial.name}*"):
            leftover.unlink()
        db = Database(f"sqlite:///{partial}")
        upgrade(db)
        started = time.perf_counter()
        files = [data / name for name in RECORD_FILES if (data / name).exists()]
        report = import_paths(db, files)
        elapsed = time.perf_counter() - started
        print(f"imported {report.records_stored:,} records in {elapsed:.1f} s", flush=True)
        db.dispose()  # the last connection closed folds the WAL back into the file
        partial.rename(db_file)
    return url


def fresh_copy(url: str, work: Path) -> str:
    """A copy of the pristine store for this run: batches, results and audit rows of earlier runs
    would otherwise pile up in it and change what is measured."""
    source = Path(url.removeprefix("sqlite:///"))
    target = work / f"run-{source.name}"
    for leftover in work.glob(f"{target.name}*"):
        leftover.unlink()
    shutil.copyfile(source, target)
    return f"sqlite:///{target}"


def load_searches(data: Path, count: int) -> list[dict[str, object]]:
    with (data / "searches.jsonl").open(encoding="utf-8") as handle:
        rows = [json.loads(line)["params"] for line in handle]
    return [rows[i % len(rows)] for i in range(count)]


def floor_seconds(url: str, searches: list[dict[str, object]]) -> float:
    """The same resolutions in this process: normalise + one ``resolve_many``, on the same database."""
    db = Database(url)
    try:
        started = time.perf_counter()
        Finder(db, from_settings(db, get_settings())).resolve_many([normalise(params) for params in searches])
        return time.perf_counter() - started
    finally:
        db.dispose()


def people_in_store(url: str) -> int:
    db = Database(url)
    try:
        with db.read() as conn:
            return int(conn.exec_driver_sql("SELECT count(*) FROM people").scalar_one())
    finally:
        db.dispose()


def rss_parts_mb(pid: int) -> dict[str, float]:
    """RssAnon (the process's own memory) and RssFile (pages of mapped files, the database included)."""
    parts: dict[str, float] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("RssAnon", "RssFile"):
                parts[name] = int(value.split()[0]) / 1024
    return parts


def p50_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


@dataclass
class Figures:
    """What one run measures on one database."""

    posts: list[float]
    completions: list[float]
    gets: list[float]
    floor: float
    rss: list[int]
    parts: dict[str, float]


def measure(url: str, searches: list[dict[str, object]], args: argparse.Namespace) -> Figures:
    """The floor in this process, then ``trova serve`` on ``url``: POSTs to completion and GETs."""
    floors = [floor_seconds(url, searches) for _ in range(2)]
    env = {
        "TROVA_DATABASE_URL": url,
        "TROVA_RATE_LIMIT_POST_PER_S": "1000",
        "TROVA_LOG_LEVEL": "warning",
        "TROVA_MAX_BODY_BYTES": str(50_000_000),
    }
    key = run_trova(
        "accounts", "create", f"bench-{os.getpid()}-{time.time_ns()}", "--credits", str(10**12), env=env
    ).stdout.splitlines()[-1]
    body = json.dumps({"searches": searches}).encode()
    server = TrovaServer(env, cwd=args.work).start()
    assert server.proc is not None
    process = psutil.Process(server.proc.pid)
    figures = Figures([], [], [], 0.0, [process.memory_info().rss], {})
    try:
        with httpx.Client(
            base_url=server.base_url,
            headers={"x-api-key": key, "content-type": "application/json"},
            timeout=120,
        ) as client:
            batch_id = ""
            for _ in range(args.rounds):
                started = time.perf_counter()
                response = client.post("/phone/bulk", content=body)
                figures.posts.append(time.perf_counter() - started)
                assert response.status_code == 201, response.text
                batch_id = response.json()["id"]
                while client.get(f"/phone/bulk?id={batch_id}").json()["general"]["status"] == "ongoing":
                    figures.rss.append(process.memory_info().rss)
                    time.sleep(0.02)
                figures.completions.append(time.perf_counter() - started)
                figures.rss.append(process.memory_info().rss)
            for _ in range(args.gets):
                started = time.perf_counter()
                result = client.get(f"/phone/bulk?id={batch_id}")
                figures.gets.append(time.perf_counter() - started)
                assert len(result.json()["results"]) == args.searches
            figures.rss.append(process.memory_info().rss)
            figures.parts = rss_parts_mb(process.pid)
    finally:
        server.stop()
    floors.append(floor_seconds(url, searches))
    figures.floor = min(floors)
    return figures


def copy_to_postgres(sqlite_url: str, postgres_url: str) -> None:
    """The same store on PostgreSQL (``trova db copy``), its statistics gathered for the planner."""
    copy_database(sqlite_url, postgres_url, verify_copied_balances)
    engine = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    finally:
        engine.dispose()


def report(name: str, url: str, figures: Figures, searches: int) -> None:
    completion = statistics.median(figures.completions)
    print(f"## {name}   (load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})")
    print(f"people in store:                      {people_in_store(url):,}")
    print(f"POST /phone/bulk ({searches} searches) p50: {p50_ms(figures.posts):8.1f} ms   (target ≤ 100)")
    print(f"POST → completed p50:                 {completion * 1000:8.1f} ms")
    print(f"floor (in-process resolve_many):      {figures.floor * 1000:8.1f} ms")
    print(f"ratio completed / floor:              {completion / figures.floor:8.2f} x   (target ≤ 2)")
    print(f"GET completed batch p50:              {p50_ms(figures.gets):8.1f} ms   (target ≤ 40)")
    print(f"server RSS max:                       {max(figures.rss) / 2**20:8.1f} MB   (target ≤ 250)")
    anon, mapped = figures.parts["RssAnon"], figures.parts["RssFile"]
    print(f"  at the end: RssAnon {anon:.1f} MB, RssFile {mapped:.1f} MB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--searches", type=int, default=3000, help="searches per batch")
    parser.add_argument("--rounds", type=int, default=5, help="batches posted (one at a time)")
    parser.add_argument("--gets", type=int, default=20, help="GETs of a completed batch")
    parser.add_argument("--data", type=Path, default=None, help="generated data directory (cached)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/trova-bench-api"))
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="also measure the same store copied onto a fresh PostgreSQL database (TROVA_TEST_PG_URL), "
        "reported beside",
    )
    args = parser.parse_args(argv)

    args.work.mkdir(parents=True, exist_ok=True)
    data = ensure_data(args.data or args.work / f"data-{args.people}", args.people, max(args.searches, 5000))
    url = fresh_copy(ensure_database(data, args.work), args.work)
    searches = load_searches(data, args.searches)
    if args.postgres:
        with fresh_postgres_database() as postgres_url:
            copy_to_postgres(url, postgres_url)
            on_postgres = measure(postgres_url, searches, args)
            report("PostgreSQL", postgres_url, on_postgres, args.searches)
    report("SQLite", url, measure(url, searches, args), args.searches)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
