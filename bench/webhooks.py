"""Benchmark of webhook delivery through a real ``trova serve``.

    .venv/bin/python bench/webhooks.py
    .venv/bin/python bench/webhooks.py --batches 20 --messages 1000 --delay 1 --concurrency 50

Measures, with the receiver in its own process (a threaded HTTP server on loopback):

1. completion → arrival: ``--batches`` small bulk batches are POSTed one after another; for each,
   the time from the transaction that completed it (the message row is written in it) to the
   webhook reaching the receiver. Reports the median and p95 (target: median ≤ 1 s).
2. throughput under a slow receiver: ``--messages`` messages are queued at once to a receiver that
   takes ``--delay`` seconds per answer, with ``TROVA_WEBHOOK_CONCURRENCY=--concurrency``; reports
   the time until all are delivered (messages * delay / concurrency is the floor: 20 s for the
   defaults) and GET /account/info p50 meanwhile against its idle p50 (target: within 20 %).

Figures depend on the machine and its load: run it on an idle machine to compare.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.servers import TrovaServer, free_port  # noqa: E402

from trova.accounts.service import create_account  # noqa: E402
from trova.store import Database  # noqa: E402
from trova.store.migrate import upgrade  # noqa: E402
from trova.webhooks import repository as repo  # noqa: E402
from trova.webhooks.service import notify  # noqa: E402

PROBE_INTERVAL_S = 0.02


def serve_receiver(port: int, delay_s: float, log_path: Path) -> None:
    """Receiver mode (run in its own process): uvicorn answering 200 after ``delay_s``, logging arrivals.

    An asyncio receiver holds a thousand slow answers open on one thread, so the figures measure
    Trova's sender, not the receiver's threads.
    """
    import asyncio

    import uvicorn

    log = open(log_path, "a", buffering=1)  # noqa: SIM115

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        arrived = time.time()
        headers = dict(scope["headers"])
        more = True
        while more:
            more = (await receive()).get("more_body", False)
        log.write(f"{arrived:.6f} {headers.get(b'webhook-id', b'-').decode()}\n")
        await asyncio.sleep(delay_s)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", backlog=2048)


def start_receiver(port: int, delay_s: float, log_path: Path) -> subprocess.Popen[bytes]:
    args = [
        sys.executable,
        __file__,
        "--receiver",
        str(port),
        "--delay",
        str(delay_s),
        "--log",
        str(log_path),
    ]
    proc = subprocess.Popen(args)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    raise TimeoutError("receiver did not start")


def arrivals(log_path: Path) -> dict[str, float]:
    """First arrival time (Unix) per webhook-id."""
    seen: dict[str, float] = {}
    if log_path.exists():
        for line in log_path.read_text().splitlines():
            stamp, message_id = line.split(" ", 1)
            seen.setdefault(message_id, float(stamp))
    return seen


def unix(naive_utc: dt.datetime) -> float:
    return naive_utc.replace(tzinfo=dt.UTC).timestamp()


def p50(values: list[float]) -> float:
    return statistics.median(values)


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, int(len(values) * 0.95) - 1)]


def info_latencies(
    client: httpx.Client, key: str, *, count: int | None = None, until: threading.Event | None = None
) -> list[float]:
    """GET /account/info latencies (ms), one request every ``PROBE_INTERVAL_S``: a steady API user."""
    samples: list[float] = []
    while (count is None or len(samples) < count) and not (until is not None and until.is_set()):
        started = time.perf_counter()
        client.get("/account/info", headers={"x-api-key": key}).raise_for_status()
        elapsed = time.perf_counter() - started
        samples.append(elapsed * 1000)
        time.sleep(max(0.0, PROBE_INTERVAL_S - elapsed))
    return samples


def completion_to_arrival(
    server: TrovaServer, db: Database, key: str, hook: str, log: Path, batches: int
) -> None:
    latencies: list[float] = []
    with httpx.Client(base_url=server.base_url, timeout=60) as client:
        for n in range(batches):
            body = {
                "searches": [
                    {"first_name": "Ada", "last_name": f"Bench{n}", "company_domain": "example.com"}
                ],
                "settings": {"webhook": hook},
            }
            batch_id = client.post("/phone/bulk", json=body, headers={"x-api-key": key}).json()["id"]
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with db.read() as conn:
                    messages = repo.messages_of_batch(conn, batch_id)
                if messages and messages[0].id in (seen := arrivals(log)):
                    latencies.append(seen[messages[0].id] - unix(messages[0].created_at))
                    break
                time.sleep(0.01)
            else:
                raise TimeoutError(f"webhook of batch {batch_id} never arrived")
    print(
        f"completion → arrival over {batches} batches: median {p50(latencies) * 1000:.0f} ms, "
        f"p95 {p95(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms (target: median ≤ 1000 ms)"
    )


def slow_receiver_throughput(
    server: TrovaServer,
    db: Database,
    account_id: int,
    key: str,
    hook: str,
    log: Path,
    args: argparse.Namespace,
) -> None:
    with httpx.Client(base_url=server.base_url, timeout=60) as client:
        info_latencies(client, key, count=50)
        idle = info_latencies(client, key, count=300)
        already = len(arrivals(log))
        queued_at = time.time()
        with db.write() as conn:
            ids = [
                notify(
                    conn,
                    account_id=account_id,
                    batch_id=f"bench-{n}",
                    request_url=hook,
                    event="bulk_phone_search_finished",
                    payload={"event": "bulk_phone_search_finished", "n": n},
                )
                for n in range(args.messages)
            ]
        done = threading.Event()
        busy: list[float] = []
        sampler = threading.Thread(target=lambda: busy.extend(info_latencies(client, key, until=done)))
        sampler.start()
        deadline = time.monotonic() + max(600, 5 * args.messages * args.delay / args.concurrency)
        while time.monotonic() < deadline:
            with db.read() as conn:
                counts = repo.count_by_status(conn)
            if counts.get("pending", 0) == 0:
                break
            time.sleep(0.2)
        delivered_at = time.time()
        done.set()
        sampler.join()
    arrived = len(arrivals(log)) - already
    with db.read() as conn:
        tried = [a for i in ids if i for a in repo.attempts_of(conn, i)]
    errors = statistics.multimode([a.error for a in tried if a.error]) if any(a.error for a in tried) else []
    print(f"attempts: {len(tried)} for {len(ids)} messages; most common error: {errors[:1]}")
    floor = args.messages * args.delay / args.concurrency
    print(
        f"{args.messages} messages, receiver {args.delay:g} s per answer, concurrency {args.concurrency}: "
        f"all delivered in {delivered_at - queued_at:.1f} s (floor {floor:.0f} s); {arrived} arrivals, "
        f"{sum(1 for i in ids if i)} queued; statuses {counts}"
    )
    print(
        f"GET /account/info p50: idle {p50(idle):.2f} ms ({len(idle)} requests), during delivery "
        f"{p50(busy):.2f} ms ({len(busy)} requests): {100 * (p50(busy) / p50(idle) - 1):+.0f} % "
        f"(target: within 20 %)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--delay", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--receiver", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--log", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver:
        serve_receiver(args.receiver, args.delay, args.log)
        return

    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="trova-bench-webhooks-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'trova.db'}"
        db = Database(url)
        upgrade(db)
        with db.write() as conn:
            created = create_account(conn, "bench", credits=10_000_000)
        env = {
            "TROVA_DATABASE_URL": url,
            "TROVA_WEBHOOK_ALLOW_HTTP": "true",
            "TROVA_WEBHOOK_ALLOW_PRIVATE": "true",
            "TROVA_WEBHOOK_CONCURRENCY": str(args.concurrency),
            "TROVA_WEBHOOK_TIMEOUT_S": str(max(10.0, 5 * args.delay)),
            "TROVA_LOG_LEVEL": "warning",
            **{k: v for k, v in os.environ.items() if k == "TROVA_WORKER_POLL_INTERVAL_S"},
        }
        fast_log, slow_log = Path(tmp) / "fast.log", Path(tmp) / "slow.log"
        fast_port, slow_port = free_port(), free_port()
        receivers = [
            start_receiver(fast_port, 0.0, fast_log),
            start_receiver(slow_port, args.delay, slow_log),
        ]
        try:
            with TrovaServer(env) as server:
                completion_to_arrival(
                    server, db, created.api_key, f"http://127.0.0.1:{fast_port}/hook", fast_log, args.batches
                )
                slow_receiver_throughput(
                    server,
                    db,
                    created.account.id,
                    created.api_key,
                    f"http://127.0.0.1:{slow_port}/hook",
                    slow_log,
                    args,
                )
        finally:
            for proc in receivers:
                proc.terminate()
                proc.wait(10)
            db.dispose()


if __name__ == "__main__":
    main()
