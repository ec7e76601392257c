"""Soak test of ``trova serve`` under honest load and attackers (issue 17); not part of the suite.

    .venv/bin/python bench/soak.py                          # 200 connections, 20 s baseline + 60 s attack
    .venv/bin/python bench/soak.py --seconds 30 --baseline 10 --connections 100

Starts ``trova serve`` (workers included) on a fresh SQLite file, then runs two phases:

1. **baseline**: ``--connections`` honest keep-alive connections send mixed traffic as fast as they
   are answered: ``GET /healthz``, ``GET /account/info``, ``POST /phone/single``, ``GET /phone/single``,
   spread over ``--client-procs`` processes (httpx, one client per connection);
2. **attack**: the same honest traffic for ``--seconds``, plus ``--slow`` slow-header attackers
   (one header byte per second, never finishing; reconnecting when cut off) and ``--oversize``
   attackers sending endless headers as fast as they can.

Prints per phase: honest requests per second, p50/p99 latency, errors (any status other than the
expected 200/201/202, or a failed connection), and the server's RSS before, after the baseline and
after the attack, summed over its processes and split into RssAnon (their own memory) and RssFile
(mapped files: the SQLite database, which grows with every honest POST). Targets (issue 17): no
honest error, RSS growth ≤ 30 MB, attack p99 within 20 % of the baseline p99.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.api import rss_parts_mb  # noqa: E402
from tests.support.servers import TrovaServer, run_trova  # noqa: E402


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


async def honest(client: httpx.AsyncClient, key: str, stop: float, tally: Tally, n: int) -> None:
    headers = {"x-api-key": key}
    body = {"linkedin_url": f"https://www.linkedin.com/in/soak-{n}"}
    last_id: str | None = None
    step = n
    while time.monotonic() < stop:
        step += 1
        kind = step % 4
        started = time.perf_counter()
        try:
            if kind == 0:
                response = await client.get("/healthz")
            elif kind == 1:
                response = await client.get("/account/info", headers=headers)
            elif kind == 2 or last_id is None:
                response = await client.post("/phone/single", json=body, headers=headers)
                if response.status_code == 201:
                    last_id = response.json()["id"]
            else:
                response = await client.get(f"/phone/single?id={last_id}", headers=headers)
        except httpx.HTTPError as error:
            tally.error(type(error).__name__)
            continue
        tally.latencies.append(time.perf_counter() - started)
        if response.status_code not in (200, 201, 202):
            tally.error(str(response.status_code))


async def slow_header(port: int, stop: float, answers: Tally) -> None:
    while time.monotonic() < stop:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            while time.monotonic() < stop and not reader.at_eof():
                writer.write(b"a")
                await writer.drain()
                try:
                    data = await asyncio.wait_for(reader.read(4096), timeout=1.0)
                except TimeoutError:
                    continue
                if data:
                    answers.error(data.split(b"\r\n", 1)[0].decode("latin-1"))
                break
            writer.close()
        except OSError as error:
            answers.error(type(error).__name__)
            await asyncio.sleep(0.1)


async def oversize_header(port: int, stop: float, answers: Tally) -> None:
    chunk = b"a" * 65536
    while time.monotonic() < stop:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
            for _ in range(800):  # up to 50 MB, as the attack in the issue
                if reader.at_eof() or time.monotonic() > stop:
                    break
                writer.write(chunk)
                await writer.drain()
            data = await asyncio.wait_for(reader.read(4096), timeout=5.0)
            answers.error(data.split(b"\r\n", 1)[0].decode("latin-1") or "closed")
            writer.close()
        except (OSError, TimeoutError) as error:
            answers.error(type(error).__name__)
            await asyncio.sleep(0.05)


def summary(name: str, tally: Tally, seconds: float) -> float:
    lat = sorted(tally.latencies)
    p50 = statistics.median(lat) * 1000 if lat else float("nan")
    p99 = lat[int(len(lat) * 0.99) - 1] * 1000 if lat else float("nan")
    print(
        f"{name:9s} {len(lat) / seconds:8.0f} req/s  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  "
        f"errors {sum(tally.errors.values())} {tally.errors or ''}",
        flush=True,
    )
    return p99


def honest_share(port: int, key: str, numbers: range, seconds: float) -> Tally:
    """One client process: the honest connections ``numbers``, each on its own httpx client (one
    pooled connection), for ``seconds``."""

    async def run() -> Tally:
        stop, tally = time.monotonic() + seconds, Tally()
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        clients = [
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=60) for _ in numbers
        ]
        try:
            pairs = zip(clients, numbers, strict=True)
            await asyncio.gather(*(honest(client, key, stop, tally, n) for client, n in pairs))
        finally:
            await asyncio.gather(*(client.aclose() for client in clients))
        return tally

    return asyncio.run(run())


async def attack(port: int, seconds: float, slow: int, oversize: int) -> Tally:
    stop, answers = time.monotonic() + seconds, Tally()
    tasks = [slow_header(port, stop, answers) for _ in range(slow)]
    tasks += [oversize_header(port, stop, answers) for _ in range(oversize)]
    await asyncio.gather(*tasks)
    return answers


def phase(
    port: int, key: str, connections: int, seconds: float, slow: int, oversize: int, procs: int
) -> Tally:
    """The honest connections spread over ``procs`` client processes (one httpx process at 200
    connections spent a whole core, and its latencies were its own queue), the attackers here."""
    shares = [range(first, connections, procs) for first in range(procs)]
    with ProcessPoolExecutor(procs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(honest_share, port, key, share, seconds) for share in shares]
        attacks = asyncio.run(attack(port, seconds, slow, oversize))
        parts = [future.result() for future in futures]
    if slow or oversize:
        print(f"          attackers were answered: {attacks.errors}", flush=True)
    tally = Tally()
    for part in parts:
        tally.latencies += part.latencies
        for kind, count in part.errors.items():
            tally.errors[kind] = tally.errors.get(kind, 0) + count
    return tally


def rss_mb(pid: int) -> float:
    """The RSS of the server and its children (the worker child and the webhook sender)."""
    return sum(rss_by_process(pid).values())


def server_tree(pid: int) -> list[psutil.Process]:
    """The server and the processes under it (the worker child and the webhook sender)."""
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def rss_by_process(pid: int) -> dict[str, float]:
    """MB of RSS per process of the server's tree, by pid and command's last argument."""
    return {f"{p.pid} {' '.join(p.cmdline()[-2:])}": p.memory_info().rss / 2**20 for p in server_tree(pid)}


def anon_and_file_mb(pid: int) -> tuple[float, float]:
    """RssAnon (the processes' own memory) and RssFile (mapped files: the SQLite database grows with
    the honest POSTs) summed over the server's process tree."""
    parts = [rss_parts_mb(process.pid) for process in server_tree(pid)]
    return sum(part.get("RssAnon", 0.0) for part in parts), sum(part.get("RssFile", 0.0) for part in parts)


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--baseline", type=float, default=20)
    parser.add_argument("--slow", type=int, default=50, help="slow-header attackers")
    parser.add_argument("--oversize", type=int, default=10, help="oversize-header attackers")
    parser.add_argument("--client-procs", type=int, default=2, help="processes of honest clients")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            "TROVA_DATABASE_URL": f"sqlite:///{Path(tmp) / 'soak.db'}",
            "TROVA_LOG_LEVEL": "warning",
            "TROVA_RATE_LIMIT_POST_PER_S": "1000000",
        }
        key = run_trova("accounts", "create", "soak", "--credits", "1000000000", env=env).stdout.split()[-1]
        server = TrovaServer(env, args=("serve",), cwd=Path(tmp))
        server.start()
        try:
            assert server.proc is not None
            pid = server.proc.pid
            before, parts_before = rss_mb(pid), anon_and_file_mb(pid)
            print(f"server pid {pid}, cpus {os.cpu_count()}, RSS before {before:.0f} MB", flush=True)
            base = phase(server.port, key, args.connections, args.baseline, 0, 0, args.client_procs)
            after_base, parts_base = rss_mb(pid), anon_and_file_mb(pid)
            base_p99 = summary("baseline", base, args.baseline)
            attacked = phase(
                server.port, key, args.connections, args.seconds, args.slow, args.oversize, args.client_procs
            )
            after, parts_after = rss_mb(pid), anon_and_file_mb(pid)
            attack_p99 = summary("attack", attacked, args.seconds)
            parts = ", ".join(f"{name}: {mb:.0f} MB" for name, mb in rss_by_process(pid).items())
            print(f"RSS by process after the attack: {parts}", flush=True)
            print(
                f"RSS before {before:.0f} MB, after baseline {after_base:.0f} MB, "
                f"after attack {after:.0f} MB "
                f"(growth during the attack {after - after_base:+.0f} MB); "
                f"p99 attack/baseline {attack_p99 / base_p99:.2f}",
                flush=True,
            )
            steps = (parts_before, parts_base, parts_after)
            print(
                "RssAnon before / after baseline / after attack: "
                + " / ".join(f"{anon:.0f}" for anon, _ in steps)
                + " MB; RssFile: "
                + " / ".join(f"{mapped:.0f}" for _, mapped in steps)
                + " MB",
                flush=True,
            )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
