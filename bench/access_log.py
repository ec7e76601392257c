"""Cost of the access log line per request (issue 17, issue 19 item 11); not part of the suite.

    .venv/bin/python bench/access_log.py                 # 3,000 GET /account/info per server
    .venv/bin/python bench/access_log.py --requests 5000

Starts ``trova serve --no-worker`` twice on fresh SQLite files, at ``TROVA_LOG_LEVEL=info``: once
with the access log (the default), once with ``TROVA_ACCESS_LOG=false``; the other lines are the
same. One keep-alive client sends sequential ``GET /account/info`` (authenticated: one small read)
to each, alternating servers every 500 requests so that both see the same load on the machine.
Prints the mean and p50 per request for each, their ratio, and the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.servers import TrovaServer, run_trova

ROUND = 500


def start(work: Path, access_log: bool) -> tuple[TrovaServer, str]:
    env = {
        "TROVA_DATABASE_URL": f"sqlite:///{work / 'trova.db'}",
        "TROVA_LOG_LEVEL": "info",
        "TROVA_ACCESS_LOG": "true" if access_log else "false",
    }
    run_trova("migrate", env=env)
    key = run_trova("accounts", "create", "bench", env=env).stdout.strip().splitlines()[-1]
    server = TrovaServer(env, args=("serve", "--no-worker"), cwd=work, log_path=work / "server.log")
    return server.start(), key


def timed(client: httpx.Client, count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        client.get("/account/info").raise_for_status()
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as on_dir, tempfile.TemporaryDirectory() as off_dir:
        on, on_key = start(Path(on_dir), True)
        off, off_key = start(Path(off_dir), False)
        samples: dict[str, list[float]] = {"access log on": [], "access log off": []}
        try:
            with httpx.Client(base_url=on.base_url, headers={"x-api-key": on_key}) as with_log, httpx.Client(
                base_url=off.base_url, headers={"x-api-key": off_key}
            ) as without:
                timed(with_log, 100), timed(without, 100)
                for _ in range(max(1, args.requests // ROUND)):
                    samples["access log on"] += timed(with_log, ROUND)
                    samples["access log off"] += timed(without, ROUND)
            log = (Path(on_dir) / "server.log").read_text()
            lines = sum("trova.access" in line for line in log.splitlines())
        finally:
            on.stop()
            off.stop()
    for name, values in samples.items():
        print(f"{name:15} {len(values)} requests: mean {statistics.mean(values) * 1e3:.3f} ms, "
              f"p50 {statistics.median(values) * 1e3:.3f} ms")
    ratio = statistics.mean(samples["access log on"]) / statistics.mean(samples["access log off"])
    print(f"ratio on/off (mean): {ratio:.3f}; access lines written: {lines}")
    print(f"load average: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")


if __name__ == "__main__":
    main()
