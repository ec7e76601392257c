"""Clients that reuse idle keep-alive connections, against ``trova serve`` (issue #18's soak error).

    .venv/bin/python bench/keep_alive.py                    # client window 1 s; server 1 s, then default
    .venv/bin/python bench/keep_alive.py --seconds 60 --connections 100

httpx keeps an idle connection for reuse for 5 s (``keepalive_expiry``), and uvicorn closed idle
connections after 5 s: a request sent on a connection the server was closing at that moment fails
with a reset (``httpx.ReadError``) instead of an answer. The soak (``bench/soak.py``) met it about once
in four runs. This script makes the moment frequent: ``--connections`` httpx clients, each with a
reuse window of ``--window`` seconds, send ``GET /healthz`` and then wait about that window (±5 %)
before the next, for ``--seconds``; once against a server whose ``TROVA_KEEP_ALIVE_TIMEOUT_S`` equals
the window (what the two 5 s defaults were), once with Trova's default. Prints the requests sent and
the failed ones, by exception.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.servers import TrovaServer  # noqa: E402


async def reuse(port: int, window_s: float, until: float, tally: Counter[str]) -> None:
    limits = httpx.Limits(max_connections=1, keepalive_expiry=window_s)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=30) as client:
        while time.monotonic() < until:
            try:
                response = await client.get("/healthz")
                tally["answered" if response.status_code == 200 else str(response.status_code)] += 1
            except httpx.HTTPError as error:
                tally[type(error).__name__] += 1
            await asyncio.sleep(window_s * random.uniform(0.95, 1.05))


async def clients(port: int, connections: int, window_s: float, seconds: float) -> Counter[str]:
    tally: Counter[str] = Counter()
    until = time.monotonic() + seconds
    await asyncio.gather(*(reuse(port, window_s, until, tally) for _ in range(connections)))
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--window", type=int, default=1, help="the clients' reuse window, whole seconds")
    args = parser.parse_args()
    for keep_alive in (str(args.window), None):
        with tempfile.TemporaryDirectory() as tmp:
            env = {"TROVA_DATABASE_URL": f"sqlite:///{Path(tmp) / 'k.db'}", "TROVA_LOG_LEVEL": "warning"}
            if keep_alive is not None:
                env["TROVA_KEEP_ALIVE_TIMEOUT_S"] = keep_alive
            server = TrovaServer(env, args=("serve", "--no-worker"), cwd=Path(tmp))
            server.start()
            try:
                tally = asyncio.run(clients(server.port, args.connections, args.window, args.seconds))
            finally:
                server.stop()
        label = f"TROVA_KEEP_ALIVE_TIMEOUT_S={keep_alive}" if keep_alive else "default keep-alive"
        failed = {kind: n for kind, n in tally.items() if kind != "answered"}
        total = sum(tally.values())
        print(f"{label:<32} requests {total:6,}  failed {sum(failed.values()):4} {failed or ''}", flush=True)


if __name__ == "__main__":
    main()
