"""Upstream sources: a 3,000-search batch through the waterfall, and the ``http`` kind's pacing.

    .venv/bin/python bench/sources.py
    .venv/bin/python bench/sources.py --latency-ms 200 --rate 50 --http-searches 300

1. **Waterfall.** An upstream ``trova serve`` (own SQLite file, own data imported with ``trova
   import``) knows half of 3,000 people; this process's store (another SQLite file) knows the other
   half. The upstream sits behind a loopback proxy that adds ``--latency-ms`` to every request.
   One ``Finder.resolve_many`` of the 3,000 searches is timed (the worker's call for one chunk of
   3,000), with the number of upstream calls the proxy saw (bulk POSTs and polling GETs); then the
   same batch again, now answered locally.
2. **http kind.** A loopback JSON provider answering at once; ``--http-searches`` searches through
   an ``http`` source with ``rate_limit_per_s = --rate``: the achieved request rate (requests over
   the time between the first and the last arrival) against the limit (target: within 10 %).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from trova.accounts import service as accounts
from trova.finder.service import Finder
from trova.ingest.service import import_paths
from trova.people.normalise import search_from_params
from trova.settings import SourceConfig
from trova.sources.config import parse_sources
from trova.sources.waterfall import Waterfall, build_source
from trova.store import Database
from trova.store.migrate import upgrade

BATCH = 3000


def person(i: int) -> dict[str, str]:
    return {
        "linkedin_url": f"https://www.linkedin.com/in/bench-{i:05d}",
        "first_name": f"First{i}",
        "last_name": f"Last{i}",
        "company_name": f"Company {i}",
        "company_domain": f"company{i}.fr",
        "phone": f"+336{20000000 + i:08d}",
        "country": "FR",
    }


def write_contacts(path: Path, ids: range) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(person(0)))
        writer.writeheader()
        writer.writerows(person(i) for i in ids)
    return path


class _Server:
    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def latency_proxy(target: str, latency_s: float, calls: dict[str, int]) -> _Server:
    """Forwards every request to ``target`` after sleeping ``latency_s``; counts them by method."""
    lock = threading.Lock()
    client = httpx.Client(base_url=target, timeout=120)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            return

        def _forward(self) -> None:
            with lock:
                calls[self.command] = calls.get(self.command, 0) + 1
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            time.sleep(latency_s)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in {"host", "content-length"}}
            answer = client.request(self.command, self.path, content=body or None, headers=headers)
            self.send_response(answer.status_code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

        do_GET = _forward
        do_POST = _forward

    return _Server(Handler)


def start_upstream(root: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    url = f"sqlite:///{root / 'upstream.db'}"
    env = {
        **os.environ,
        "TROVA_DATABASE_URL": url,
        "TROVA_LOG_LEVEL": "warning",
        "TROVA_WORKER_POLL_INTERVAL_S": "0.05",
        "TROVA_JOB_CHUNK_SIZE": "3000",
    }
    contacts = write_contacts(root / "upstream.csv", range(1, BATCH // 2 + 1))
    for command in (["migrate"], ["import", str(contacts)]):
        subprocess.run([sys.executable, "-m", "trova", *command], env=env, check=True, capture_output=True)
    db = Database(url)
    with db.write() as conn:
        key = accounts.create_account(conn, "bench", credits=10_000_000).api_key
    db.dispose()
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "trova", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return proc, base, key
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("upstream did not start")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def waterfall_bench(root: Path, latency_s: float) -> None:
    proc, base, key = start_upstream(root)
    calls: dict[str, int] = {}
    proxy = latency_proxy(base, latency_s, calls)
    db = Database(f"sqlite:///{root / 'downstream.db'}")
    try:
        upgrade(db)
        import_paths(db, [write_contacts(root / "local.csv", range(BATCH // 2 + 1, BATCH + 1))])
        specs = parse_sources(
            [
                SourceConfig(
                    name="upstream",
                    kind="enrow",
                    base_url=proxy.url,
                    api_key_env="BENCH_KEY",
                    poll_interval_s=0.5,
                )
            ]
        )
        sources = {s.name: build_source(s, environ={"BENCH_KEY": key}) for s in specs if s.kind != "local"}
        finder = Finder(db, upstream=Waterfall(db, specs, sources))
        searches = [
            search_from_params({"linkedin_url": person(i)["linkedin_url"]}) for i in range(1, BATCH + 1)
        ]
        started = time.perf_counter()
        answers = finder.resolve_many(searches)
        first = time.perf_counter() - started
        upstream_calls = dict(calls)
        started = time.perf_counter()
        again = finder.resolve_many(searches)
        second = time.perf_counter() - started
    finally:
        db.dispose()
        proxy.stop()
        proc.terminate()
        proc.wait(30)
    print(
        f"waterfall: {BATCH:,} searches, half known only upstream, "
        f"+{latency_s * 1000:.0f} ms per upstream request"
    )
    print(
        f"  first pass: {first:.2f} s, found {sum(a.found for a in answers):,}; upstream calls: "
        f"{upstream_calls.get('POST', 0)} bulk POST, {upstream_calls.get('GET', 0)} polling GET"
    )
    print(
        f"  second pass (answered locally): {second:.2f} s, found {sum(a.found for a in again):,}; "
        f"new upstream calls: {sum(calls.values()) - sum(upstream_calls.values())}"
    )


def http_bench(rate: float, count: int, concurrency: int) -> None:
    arrivals: list[float] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            with lock:
                arrivals.append(time.monotonic())
            data = json.dumps({"phones": ["+33612345678"]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = _Server(Handler)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            db = Database(f"sqlite:///{Path(tmp) / 'http.db'}")
            upgrade(db)
            specs = parse_sources(
                [
                    SourceConfig(
                        name="paced",
                        kind="http",
                        url=server.url + "/p?last={last_name}",
                        numbers_path="phones[*]",
                        rate_limit_per_s=rate,
                        concurrency=concurrency,
                        negative_ttl_days=0,
                    )
                ]
            )
            sources = {s.name: build_source(s, environ={}) for s in specs if s.kind != "local"}
            finder = Finder(db, upstream=Waterfall(db, specs, sources))
            searches = [
                search_from_params({"first_name": "A", "last_name": f"N{i}", "company_domain": "x.com"})
                for i in range(count)
            ]
            started = time.perf_counter()
            finder.resolve_many(searches)
            elapsed = time.perf_counter() - started
            db.dispose()
    finally:
        server.stop()
    span = max(arrivals) - min(arrivals)
    achieved = (len(arrivals) - 1) / span if span > 0 else float("inf")
    deviation = (achieved - rate) / rate
    print(f"http kind: {len(arrivals)} requests, limit {rate:g}/s, concurrency {concurrency}")
    print(
        f"  achieved {achieved:.2f} requests/s ({deviation:+.1%} vs the limit; target within 10 %), "
        f"step {elapsed:.2f} s including storing and ranking"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--http-searches", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--skip-waterfall", action="store_true")
    args = parser.parse_args()
    if not args.skip_waterfall:
        with tempfile.TemporaryDirectory() as tmp:
            waterfall_bench(Path(tmp), args.latency_ms / 1000)
    http_bench(args.rate, args.http_searches, args.concurrency)


if __name__ == "__main__":
    main()
