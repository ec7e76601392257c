"""How fast Trova's API answers, beside a bare server doing the same reads, in one run (issue #18).

    .venv/bin/python bench/api_speed.py                      # 10 s per point, 60 s mixed traffic
    .venv/bin/python bench/api_speed.py --seconds 5 --mix-seconds 15
    .venv/bin/python bench/api_speed.py --only mix --mix read          # no POSTs: no write lock
    .venv/bin/python bench/api_speed.py --only mix --server-env TROVA_WORKER_PROCESS=false
    .venv/bin/python bench/api_speed.py --only mix --reference-mix --mix-seconds 15
    .venv/bin/python bench/api_speed.py --only mix --postgres --mix-seconds 15

One SQLite store of ``--searches`` single searches (default 100,000: as many batches and searches
rows, every search done and found) and one account is built in a temporary directory. Against it
run, one after the other:

- the reference (``bench/reference_server.py``: uvicorn + Starlette + sqlite3, hashing the key,
  reading the account by its hash and the search by id from the same file);
- ``trova serve`` as a subprocess with its default settings (its worker child process, the access
  log written to a file) but the POST rate limit, raised out of the way; then
  ``trova serve --workers 2``. To measure another checkout's code with the same script, put its
  ``src`` first on ``PYTHONPATH``.

With ``--postgres`` Trova's points run on a copy of the store on a fresh PostgreSQL database of
``TROVA_TEST_PG_URL`` (dropped afterwards); the reference stays on SQLite.

With ``--reference-mix`` the mixed points are also run against the reference, with 1 and 2 uvicorn
processes, each on its own copy of the store: its ``POST /phone/single`` does only the writes (one
credit taken, the batch, its search and its job inserted, one commit) and nobody resolves them, so
it shows what this stack, this machine and SQLite's one write lock allow any server at best.

Measured: ``GET /phone/single`` (a found result) and ``GET /account/info`` at 10 connections,
``/healthz`` at 10 connections, and 200 connections of mixed traffic (40% account info, 30% GET
single, 20% POST single, 10% health) against ``--workers 1`` and ``--workers 2``. Each figure is
printed with the load average of the machine when it was taken, and the ratios the issue's targets
are about are printed at the end, and each point prints the CPU (in cores) that each process of the
server used while it was measured. A point with POSTs also prints its jobs by status at its end:
workers that fall behind (threads of a busy API process) leave their work queued, which the
request rate does not show.

The load generator is not the server's bottleneck: it runs in ``--client-procs`` separate
processes (default 2), each an asyncio loop speaking raw HTTP/1.1 keep-alive over its share of the
connections (no HTTP library: a request costs the client a few microseconds), and each reports the
CPU it used. The reference server is measured by the same clients: the client's cost per request is
the same in both, so a reference many times faster than Trova shows the clients had room. Both share
the machine's cores with the server, which a figure of this script always includes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.servers import TrovaServer, free_port  # noqa: E402

MIX = (("info", 0.4), ("single", 0.3), ("post", 0.2), ("health", 0.1))
READ_MIX = (("info", 0.5), ("single", 0.375), ("health", 0.125))
"""The issue's mix without its POSTs (``--mix read``): what ``--workers N`` gives with no write lock."""
MIXES = {"issue": MIX, "read": READ_MIX, "post": (("post", 1.0),)}


# --- the store ------------------------------------------------------------------------------------


def build_store(path: Path, count: int) -> tuple[str, str]:
    """A store with ``count`` found searches of one account; (its key, one search id)."""
    import sqlalchemy as sa

    from trova.accounts import service as accounts
    from trova.store import Database, utcnow
    from trova.store.migrate import upgrade
    from trova.store.tables import batches, searches

    db = Database(f"sqlite:///{path}")
    upgrade(db)
    now = utcnow()
    with db.write() as conn:
        made = accounts.create_account(conn, "bench", credits=10_000_000)
        key, account_id = made.api_key, made.account.id
    search_id = ""
    for first in range(0, count, 10_000):
        batch_rows, search_rows = [], []
        for n in range(first, min(count, first + 10_000)):
            search_id = str(uuid.uuid4())
            batch_rows.append(
                {
                    "id": search_id,
                    "account_id": account_id,
                    "kind": "single",
                    "status": "completed",
                    "has_custom": False,
                    "requested": 1,
                    "finished": 1,
                    "price": 1,
                    "reserved_sub": 1,
                    "reserved_paygo": 0,
                    "created_at": now,
                    "completed_at": now,
                }
            )
            search_rows.append(
                {
                    "id": search_id,
                    "batch_id": search_id,
                    "idx": 0,
                    "params": json.dumps({"linkedin_url": f"https://www.linkedin.com/in/p{n}"}),
                    "has_custom": False,
                    "status": "done",
                    "qualification": "found",
                    "number": f"+336{n:08d}",
                    "country": "FR",
                    "charged": True,
                    "reserved_sub": 1,
                    "reserved_paygo": 0,
                    "finished_at": now,
                }
            )
        with db.write() as conn:
            conn.execute(sa.insert(batches), batch_rows)
            conn.execute(sa.insert(searches), search_rows)
    db.dispose()
    return key, search_id


# --- the load generator (runs in child processes) ------------------------------------------------


def request_bytes(kind: str, key: str, search_id: str) -> bytes:
    head = {"x-api-key": key, "host": "127.0.0.1"}
    if kind == "single":
        return _request("GET", f"/phone/single?id={search_id}", head)
    if kind == "info":
        return _request("GET", "/account/info", head)
    if kind == "health":
        return _request("GET", "/healthz", {"host": "127.0.0.1"})
    body = json.dumps({"linkedin_url": "https://www.linkedin.com/in/nobody-here"}).encode()
    return _request("POST", "/phone/single", {**head, "content-type": "application/json"}, body)


def _request(method: str, target: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {target} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items())]
    lines.append(f"content-length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _connection(
    port: int,
    requests: dict[str, bytes],
    mix: Sequence[tuple[str, float]],
    until: float,
    results: list[tuple[str, int, float]],
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    kinds, weights = [k for k, _ in mix], [w for _, w in mix]
    rng = random.Random()
    try:
        while time.monotonic() < until:
            kind = rng.choices(kinds, weights)[0]
            started = time.perf_counter()
            writer.write(requests[kind])
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            results.append((kind, status, time.perf_counter() - started))
            if b"connection: close" in head.lower():
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
    finally:
        writer.close()


def client_main(spec: str) -> None:
    """One client process: one connection per target (port, key) for the given seconds; prints its
    results as JSON."""
    job = json.loads(spec)
    results: list[tuple[str, int, float]] = []
    until = time.monotonic() + job["seconds"]

    def requests(key: str) -> dict[str, bytes]:
        return {kind: request_bytes(kind, key, job["search_id"]) for kind, _ in job["mix"]}

    async def run() -> None:
        await asyncio.gather(
            *(_connection(port, requests(key), job["mix"], until, results) for port, key in job["targets"])
        )

    started = time.monotonic()
    asyncio.run(run())
    elapsed = time.monotonic() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"results": results, "elapsed": elapsed, "cpu": usage.ru_utime + usage.ru_stime}))


# --- one measured point ---------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def load(
    targets: Sequence[tuple[int, str]],
    search_id: str,
    mix: Sequence[tuple[str, float]],
    seconds: float,
    procs: int,
) -> dict[str, Any]:
    """Run the clients, one connection per target (port, API key); throughput, p50/p99 (ms),
    errors, client CPU share and load average. Also the load generator of ``bench/scaleout.py``."""
    procs = max(1, min(procs, len(targets)))
    children = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--client",
                json.dumps(
                    {
                        "targets": targets[i::procs],
                        "search_id": search_id,
                        "mix": list(mix),
                        "seconds": seconds,
                    }
                ),
            ],
            stdout=subprocess.PIPE,
        )
        for i in range(procs)
    ]
    outputs = [json.loads(child.communicate()[0]) for child in children]
    results = [tuple(r) for out in outputs for r in out["results"]]
    elapsed = max(out["elapsed"] for out in outputs)
    latencies = [r[2] for r in results]
    bad = [f"{r[0]} {r[1]}" for r in results if r[1] >= 400 or (r[0] == "post" and r[1] != 201)]
    return {
        "rps": len(results) / elapsed,
        "p50": percentile(latencies, 0.5) * 1000,
        "p99": percentile(latencies, 0.99) * 1000,
        "errors": len(bad),
        "error_kinds": sorted(set(bad))[:5],
        "requests": len(results),
        "kinds": {
            kind: (percentile(mine, 0.5) * 1000, percentile(mine, 0.99) * 1000, len(mine))
            for kind in sorted({r[0] for r in results})
            for mine in [[r[2] for r in results if r[0] == kind]]
        },
        "client_cpu": sum(out["cpu"] for out in outputs) / elapsed,
        "elapsed": elapsed,
        "load": os.getloadavg()[0],
    }


def show(label: str, figure: dict[str, Any]) -> None:
    print(
        f"{label:<44} {figure['rps']:8.0f} req/s  p50 {figure['p50']:6.1f} ms  p99 {figure['p99']:7.1f} ms"
        f"  errors {figure['errors']:<4} client CPU {figure['client_cpu']:4.2f} core"
        f"  load {figure['load']:.2f}",
        flush=True,
    )
    if len(figure["kinds"]) > 1:
        print(
            "    by kind: "
            + "; ".join(
                f"{kind} p50 {p50:.1f} p99 {p99:.0f} ms ({n:,})"
                for kind, (p50, p99, n) in figure["kinds"].items()
            )
        )
    if figure.get("server_cpu"):
        parts = ", ".join(f"{name} {cores:.2f}" for name, cores in figure["server_cpu"])
        print(f"    server CPU, cores by process: {parts}")
    if figure["errors"]:
        print(f"    errors: {', '.join(figure['error_kinds'])}")
    if "jobs" in figure:
        print(f"    jobs at the end: {figure['jobs']} (queued or running: work its POSTs left undone)")


def cpu_by_process(pid: int) -> dict[int, tuple[str, float]]:
    """CPU seconds used so far by the server and each process under it, by pid: ``server``, or a
    ``child`` (``--workers N``'s API processes, Trova's job worker and webhook sender), or
    multiprocessing's ``resource tracker``."""
    import psutil

    root = psutil.Process(pid)
    found: dict[int, tuple[str, float]] = {}
    for process in [root, *root.children(recursive=True)]:
        try:
            times, command = process.cpu_times(), process.cmdline()
        except psutil.NoSuchProcess:
            continue
        name = "server" if process.pid == pid else "child"
        if any("resource_tracker" in part for part in command):
            name = "resource tracker"
        found[process.pid] = (name, times.user + times.system)
    return found


def cores_used(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]], seconds: float
) -> list[tuple[str, float]]:
    """Each process's CPU between two :func:`cpu_by_process` readings, in cores, busiest first."""
    used = [(name, (cpu - before.get(pid, (name, 0.0))[1]) / seconds) for pid, (name, cpu) in after.items()]
    return sorted(used, key=lambda item: -item[1])


def job_counts(url: str) -> dict[str, int]:
    """Jobs by status: a point whose POSTs' jobs pile up as ``queued`` did not do their work."""
    from trova.store.engine import create_engine

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT status, count(*) FROM jobs GROUP BY status").all()
    finally:
        engine.dispose()
    return {str(status): int(count) for status, count in rows}


@contextmanager
def on_postgres(sqlite_url: str) -> Iterator[str]:
    """A copy of the store on a fresh PostgreSQL database (dropped afterwards); yields its URL."""
    from bench.api import copy_to_postgres
    from tests.support.databases import fresh_postgres_database

    with fresh_postgres_database() as url:
        copy_to_postgres(sqlite_url, url)
        yield url


def wait_healthy(port: int, proc: subprocess.Popen[bytes]) -> None:
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("the reference server did not start")


@contextmanager
def reference(db_file: Path, processes: int = 1) -> Iterator[tuple[int, int]]:
    port = free_port()
    script = str(ROOT / "bench" / "reference_server.py")
    proc = subprocess.Popen([sys.executable, script, str(db_file), str(port), str(processes)])
    try:
        wait_healthy(port, proc)
        yield port, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@contextmanager
def trova(
    url: str, work: Path, workers: int, extra_env: dict[str, str] | None = None
) -> Iterator[tuple[int, int]]:
    env = {
        "TROVA_DATABASE_URL": url,
        "TROVA_RATE_LIMIT_POST_PER_S": "1000000",
        **(extra_env or {}),
    }
    server = TrovaServer(
        env, args=("serve", "--workers", str(workers)), cwd=work, log_path=work / "serve.log"
    )
    server.start()
    try:
        assert server.proc is not None
        yield server.port, server.proc.pid
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--searches", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="per point at 10 connections")
    parser.add_argument("--mix-seconds", type=float, default=60.0, help="per mixed-traffic point")
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--only", choices=("points", "mix"), help="run only one part")
    parser.add_argument(
        "--mix",
        choices=tuple(MIXES),
        default="issue",
        help="read: the issue's mix without POSTs; post: POSTs only",
    )
    parser.add_argument("--workers", default="1,2", help="API process counts of the mixed points")
    parser.add_argument(
        "--reference-mix",
        action="store_true",
        help="run the mixed points against the reference too (its POSTs on a copy of the store)",
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="Trova on a copy of the store on a fresh PostgreSQL database (the reference stays on SQLite)",
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="e.g. TROVA_WORKER_PROCESS=false",
    )
    args = parser.parse_args(argv)
    with TemporaryDirectory() as tmp:
        work = Path(tmp)
        db_file = work / "trova.db"
        print(f"building a store of {args.searches:,} searches ...", flush=True)
        key, search_id = build_store(db_file, args.searches)
        sqlite_url = f"sqlite:///{db_file}"
        with on_postgres(sqlite_url) if args.postgres else nullcontext(sqlite_url) as url:
            measure(args, work, db_file, url, key, search_id)
    return 0


def measure(args: argparse.Namespace, work: Path, db_file: Path, url: str, key: str, search_id: str) -> None:
    """Every point of the run, Trova's on ``url``, then the ratios the issue's targets are about."""
    extra_env = dict(item.split("=", 1) for item in args.server_env)
    mix = MIXES[args.mix]
    counts = [int(n) for n in args.workers.split(",")]
    figures: dict[str, dict[str, Any]] = {}

    def point(
        label: str,
        server: tuple[int, int],
        mix: Sequence[tuple[str, float]],
        connections: int,
        seconds: float,
        jobs_of: str | None = url,
    ) -> None:
        port, pid = server
        targets = [(port, key)] * connections
        load(targets, search_id, mix, 1.0, args.client_procs)  # warm-up
        before = cpu_by_process(pid)
        figures[label] = load(targets, search_id, mix, seconds, args.client_procs)
        figures[label]["server_cpu"] = cores_used(before, cpu_by_process(pid), figures[label]["elapsed"])
        if jobs_of is not None and any(kind == "post" for kind, _ in mix):
            figures[label]["jobs"] = job_counts(jobs_of)
        show(label, figures[label])

    if args.only != "mix":
        with reference(db_file) as server:
            for kind in ("single", "info", "health"):
                point(f"reference {kind} c10", server, [(kind, 1.0)], 10, args.seconds)
        with trova(url, work, 1, extra_env) as server:
            for kind in ("single", "info", "health"):
                point(f"trova {kind} c10", server, [(kind, 1.0)], 10, args.seconds)
    if args.only != "points":
        for workers in counts if args.reference_mix else ():
            copy = work / f"reference-{workers}.db"
            shutil.copyfile(db_file, copy)
            with reference(copy, workers) as server:
                label = f"reference --workers {workers} mix c200"
                point(label, server, mix, 200, args.mix_seconds, jobs_of=None)
        for workers in counts:
            with trova(url, work, workers, extra_env) as server:
                point(f"trova --workers {workers} mix c200", server, mix, 200, args.mix_seconds)
    print()
    for kind in ("single", "info", "health"):
        ours, ref = figures.get(f"trova {kind} c10"), figures.get(f"reference {kind} c10")
        if ours and ref:
            print(
                f"{kind:<7} trova/reference throughput: {ours['rps'] / ref['rps']:.2f}  (target ≥ 0.5;"
                f" p50 {ours['p50']:.1f} ms, target ≤ 10)"
            )
    for server in ("reference", "trova"):
        one, two = (figures.get(f"{server} --workers {n} mix c200") for n in (1, 2))
        if one and two:
            print(
                f"{server} mix c200 p99 {one['p99']:.0f} ms (target ≤ 250), errors {one['errors']};"
                f" --workers 2 / --workers 1 throughput: {two['rps'] / one['rps']:.2f} (target ≥ 1.7)"
            )
    if args.postgres:
        print("(Trova on PostgreSQL, the reference on SQLite)")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--client":
        client_main(sys.argv[2])
    else:
        raise SystemExit(main())
