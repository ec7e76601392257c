"""Benchmark of the scale-out deployment on PostgreSQL: worker throughput, POST latency, pickup time.

    .venv/bin/python bench/scaleout.py
    .venv/bin/python bench/scaleout.py --searches 1000 --clients 20 --post-seconds 5

Needs the PostgreSQL of ``TROVA_TEST_PG_URL`` (default postgres@127.0.0.1:5432/test); each part
runs on a fresh database that is dropped afterwards. Every process is a real ``trova`` subprocess.

1. Throughput: ``trova serve --no-worker`` plus 1, then 2 ``trova worker`` processes (each with
   ``TROVA_WORKER_CONCURRENCY`` threads, default 2); 3 bulks of 3,000 searches POSTed at once,
   timed from the first POST until all three are ``completed`` (half the people are found).
2. POST /phone/single: requests per second and latency p50/p99, from 50 keep-alive connections
   spread over 2 API processes for ``--post-seconds``, by the raw-HTTP load generator of
   ``bench/api_speed.py`` (no workers running, so only the API and the database are measured).
3. A POST's transaction alone: ``--submits`` ``batches.submit`` calls one after another on one
   connection in this process, 3 rounds (the first warms up): milliseconds of wall time and of
   client CPU each, what the transaction's statements and round trips cost without HTTP or load.
4. Pickup time: an idle worker (polling every ``TROVA_WORKER_POLL_INTERVAL_S``, default 0.5 s,
   and listening for ``NOTIFY``) — from a batch's commit to its job being claimed, read from the
   database's own timestamps (``batches.created_at`` → ``job_attempts.started_at``).

Figures depend on the machine and its load: run it on an idle machine to compare.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.api_speed import load  # noqa: E402
from tests.scaleout.support import (  # noqa: E402
    PRICE,
    Deployment,
    bulk_body,
    contacts_csv,
    deployment,
    listening_workers,
    profile,
    scalar,
    wait_until,
)
from tests.support.databases import fresh_postgres_database  # noqa: E402
from tests.support.servers import TrovaServer  # noqa: E402

from trova.accounts import service as accounts  # noqa: E402
from trova.store import Database  # noqa: E402


@contextmanager
def fresh_deployment(**env: str) -> Iterator[Deployment]:
    with ExitStack() as stack:
        url = stack.enter_context(fresh_postgres_database())
        tmp = stack.enter_context(TemporaryDirectory())
        yield stack.enter_context(deployment(url, Path(tmp), **env))


def throughput(workers: int, batches: int, searches: int) -> float:
    """Searches per second through ``workers`` worker processes for ``batches`` bulks at once."""
    with fresh_deployment() as d:
        d.cli("import", str(contacts_csv(d.tmp / "contacts.csv", range(0, batches * searches, 2))), "--quiet")
        key = d.account("bench", batches * searches * PRICE)
        engine = d.engine()
        for _ in range(workers):
            d.worker()
        wait_until(lambda: listening_workers(engine) == workers, "the workers listening", 300)
        api = d.api()
        started = time.perf_counter()
        with httpx.Client(base_url=api.base_url, headers={"x-api-key": key}, timeout=300) as client:
            for b in range(batches):
                created = client.post("/phone/bulk", json=bulk_body(searches, offset=b * searches))
                assert created.status_code == 201, created.text
        wait_until(
            lambda: scalar(engine, "SELECT count(*) FROM batches WHERE status = 'completed'") == batches,
            "the batches to complete",
            3600,
        )
        elapsed = time.perf_counter() - started
    return batches * searches / elapsed


def api_keys(url: str, count: int, credits: int) -> list[str]:
    """``count`` accounts created in this process (the CLI costs a process start per account)."""
    db = Database(url)
    try:
        with db.write() as conn:
            created = [accounts.create_account(conn, f"bench-{i}", credits=credits) for i in range(count)]
        return [new.api_key for new in created]
    finally:
        db.dispose()


def post_figures(clients: int, seconds: float, *, shared: bool) -> dict[str, Any]:
    """POST /phone/single for ``seconds`` from ``clients`` keep-alive connections spread over two API
    processes, by the load generator of ``bench/api_speed.py`` (two client processes speaking raw
    HTTP, a few microseconds a request); its figures (``rps``, ``p50``, ``p99``, ``errors``…).

    ``shared``: every connection uses one account (its row lock serialises the reservations); else
    one account per connection, as many customers would.
    """
    with fresh_deployment(TROVA_RATE_LIMIT_POST_PER_S="1000000") as d:
        keys = api_keys(d.url, 1 if shared else clients, 10**9)
        servers = [d.api(), d.api()]
        targets = [(servers[n % 2].port, keys[n % len(keys)]) for n in range(clients)]
        load(targets, "", (("post", 1.0),), 1.0, 2)  # warm-up
        cpu_before = cpu_seconds(servers)
        figure = load(targets, "", (("post", 1.0),), seconds, 2)
        figure["api_cpu_ms"] = (cpu_seconds(servers) - cpu_before) / max(1, figure["requests"]) * 1000
        return figure


def cpu_seconds(servers: list[TrovaServer]) -> float:
    """User and system CPU seconds the servers' processes have used so far."""
    pids = [server.proc.pid for server in servers if server.proc is not None]
    return sum(sum(psutil.Process(pid).cpu_times()[:2]) for pid in pids)


def submit_times(count: int, rounds: int) -> list[tuple[float, float]]:
    """(wall ms, CPU ms) per ``POST /phone/single`` transaction, one after another on one connection
    in this process (``batches.submit`` and its commit, no HTTP, no concurrency): what the
    transaction's round trips to the server cost alone. One pair per round of ``count``."""
    from trova.batches import service as batches
    from trova.settings import Settings
    from trova.store.migrate import upgrade

    figures: list[tuple[float, float]] = []
    with fresh_postgres_database() as url:
        db, settings = Database(url), Settings(database_url=url)
        try:
            upgrade(db)
            with db.write() as conn:
                account = accounts.create_account(conn, "bench", credits=10**9).account
            single = batches.read_single({"linkedin_url": profile(0)}, settings)
            for _ in range(rounds):
                started, cpu = time.perf_counter(), time.process_time()
                for _ in range(count):
                    with db.write() as conn:
                        batches.submit(conn, account, single, settings)
                wall_ms = (time.perf_counter() - started) * 1000 / count
                figures.append((wall_ms, (time.process_time() - cpu) * 1000 / count))
        finally:
            db.dispose()
    return figures


def pickup_times(trials: int) -> list[float]:
    """Seconds from a batch's commit to the claim of its job by an idle worker."""
    with fresh_deployment() as d:
        key = d.account("bench", trials * PRICE)
        engine = d.engine()
        d.worker(env={"TROVA_WORKER_CONCURRENCY": "1"})
        wait_until(lambda: listening_workers(engine) == 1, "the worker listening", 300)
        api = d.api()
        times: list[float] = []
        with httpx.Client(base_url=api.base_url, headers={"x-api-key": key}, timeout=60) as client:
            for i in range(trials):
                time.sleep(1.0)  # let the worker go idle again
                batch_id = client.post("/phone/single", json={"linkedin_url": profile(i)}).json()["id"]
                query = (
                    "SELECT EXTRACT(EPOCH FROM (a.started_at - b.created_at)) FROM job_attempts a "
                    "JOIN jobs j ON j.id = a.job_id JOIN batches b ON b.id = j.batch_id WHERE b.id = :id"
                )
                wait_until(lambda: scalar(engine, query, id=batch_id) is not None, "the claim", 60)  # noqa: B023
                times.append(float(scalar(engine, query, id=batch_id)))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--searches", type=int, default=3000, help="searches per bulk (default 3000)")
    parser.add_argument("--batches", type=int, default=3, help="bulks submitted at once (default 3)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent POST clients (default 50)")
    parser.add_argument("--post-seconds", type=float, default=10.0, help="seconds of POSTs (default 10)")
    parser.add_argument("--pickups", type=int, default=20, help="pickup-time trials (default 20)")
    parser.add_argument("--submits", type=int, default=1000, help="submits per round (default 1000)")
    parts = ("throughput", "post", "submit", "pickup")
    parser.add_argument("--only", choices=parts, help="run one part only")
    args = parser.parse_args()
    os.environ.setdefault("TROVA_LOG_LEVEL", "warning")

    print(f"# scale-out benchmark on PostgreSQL ({os.cpu_count()} CPUs; figures depend on load)", flush=True)
    for workers in (1, 2) if args.only in (None, "throughput") else ():
        rate = throughput(workers, args.batches, args.searches)
        print(
            f"throughput, {workers} worker process(es), {args.batches} x {args.searches} searches: "
            f"{rate:,.0f} searches/s ({args.batches * args.searches / rate:.1f} s)",
            flush=True,
        )
    for shared in (False, True) if args.only in (None, "post") else ():
        figure = post_figures(args.clients, args.post_seconds, shared=shared)
        accounts_used = "one shared account" if shared else "one account each"
        print(
            f"POST /phone/single, {args.clients} connections ({accounts_used}) over 2 API processes, "
            f"{figure['requests']} requests in {args.post_seconds:.0f} s: {figure['rps']:,.0f} req/s, "
            f"p50 {figure['p50']:.1f} ms, p99 {figure['p99']:.1f} ms, errors {figure['errors']} "
            f"{figure['error_kinds']}; API CPU {figure['api_cpu_ms']:.2f} ms per POST; "
            f"client CPU {figure['client_cpu']:.2f} cores; "
            f"load {figure['load']:.1f}",
            flush=True,
        )
    rounds = submit_times(args.submits, 3) if args.only in (None, "submit") else []
    for n, (wall_ms, cpu_ms) in enumerate(rounds):
        print(
            f"POST /phone/single's transaction alone, round {n + 1}, {args.submits} one after another: "
            f"{wall_ms:.2f} ms, {cpu_ms:.2f} ms of client CPU each",
            flush=True,
        )
    if args.only not in (None, "pickup"):
        return
    pickups = pickup_times(args.pickups)
    print(
        f"pickup by an idle worker, {len(pickups)} trials: p50 {statistics.median(pickups) * 1000:.1f} ms, "
        f"max {max(pickups) * 1000:.1f} ms (target <= 100 ms)",
        flush=True,
    )


if __name__ == "__main__":
    main()
