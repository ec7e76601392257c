"""A simulated vendor market: which waterfall order finds the most numbers for the least spend.

    .venv/bin/python bench/vendor_market.py
    .venv/bin/python bench/vendor_market.py --searches 2000 --chunk 200

Four fake vendors run as loopback HTTP servers speaking two documented wire formats: two People
Data Labs-style (``kind = "pdl"``: a match is billed, a 404 miss is free) and two Lusha-style
(``kind = "lusha"``: every answer is billed, ``isCreditCharged`` even on "no data"). Each vendor
knows a person of a country with its own probability (decided by a digest of vendor and person,
so every run sees the same market) and answers that person's one mobile number.

``--searches`` searches (names + a company domain whose country-code TLD gives the search's
country) over five countries go through ``Finder.resolve_many`` in chunks of ``--chunk`` (a stream of
batches, as the worker resolves them), each run on a fresh SQLite file: once for every fixed order
(the configured one and its rotations) and once with ``waterfall = "cost"``. Printed side by side:
numbers found, total spend (from the ``source_calls`` rows), spend relative to the configured order,
and persons paid twice by one vendor (``repository.paid_twice``, from the rows). Target: ``cost``
finds at least as many as the best fixed order at ≤ 75 % of the configured order's spend, and no
person is paid twice.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from trova.finder.service import Finder
from trova.people.normalise import search_from_params
from trova.settings import SourceConfig
from trova.sources import repository as repo
from trova.sources.config import parse_sources
from trova.sources.order import WaterfallMode
from trova.sources.waterfall import Waterfall, build_source
from trova.store import Database
from trova.store.migrate import upgrade

COUNTRIES = {
    "FR": ("fr", "+336", 8),
    "DE": ("de", "+49151", 8),
    "IT": ("it", "+39312", 7),
    "ES": ("es", "+346", 8),
    "NL": ("nl", "+3161", 7),
}
"""Country -> (TLD of the company domains, mobile prefix, digits after it)."""
KEY = "bench-key"
VENDORS: dict[str, dict[str, Any]] = {
    # name: kind, price, hit rate per country (configured order = this order: premium first)
    "premium": {
        "kind": "pdl",
        "price": 10.0,
        "rates": {"FR": 0.6, "DE": 0.6, "IT": 0.6, "ES": 0.6, "NL": 0.6},
    },
    "budget": {
        "kind": "lusha",
        "price": 1.0,
        "rates": {"FR": 0.7, "DE": 0.1, "IT": 0.5, "ES": 0.2, "NL": 0.4},
    },
    "regional": {
        "kind": "pdl",
        "price": 4.0,
        "rates": {"FR": 0.3, "DE": 0.6, "IT": 0.3, "ES": 0.5, "NL": 0.3},
    },
    "bulk": {
        "kind": "lusha",
        "price": 0.5,
        "rates": {"FR": 0.1, "DE": 0.05, "IT": 0.3, "ES": 0.5, "NL": 0.2},
    },
}


def country_of(i: int) -> str:
    return list(COUNTRIES)[i % len(COUNTRIES)]


def number_of(i: int) -> str:
    _, prefix, digits = COUNTRIES[country_of(i)]
    return f"{prefix}{10_000 + i:0{digits}d}"


def knows(vendor: str, i: int) -> bool:
    digest = hashlib.blake2b(f"{vendor}:{i}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < VENDORS[vendor]["rates"][country_of(i)]


def search_params(i: int) -> dict[str, str]:
    tld = COUNTRIES[country_of(i)][0]
    return {"first_name": f"first{i}", "last_name": f"last{i}", "company_domain": f"company{i}.{tld}"}


class FakeVendor:
    """One vendor on loopback: ``pdl`` (GET /v5/person/enrich) or ``lusha`` (GET /v2/person)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.kind = VENDORS[name]["kind"]
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                status, body = outer.answer(self.path, dict(self.headers.items()))
                raw = orjson.dumps(body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def answer(self, path: str, headers: dict[str, str]) -> tuple[int, Any]:
        parts = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        lower = {k.lower(): v for k, v in headers.items()}
        if self.kind == "pdl":
            if lower.get("x-api-key") != KEY:
                return 401, {"error": {"type": "authentication_error", "message": "Invalid API key"}}
            i = int(query.get("last_name", "last-1")[4:])
            if not knows(self.name, i):
                return 404, {"status": 404, "error": {"type": "not_found", "message": "No records"}}
            return 200, {
                "status": 200,
                "likelihood": 8,
                "data": {"id": f"p{i}", "mobile_phone": number_of(i), "phone_numbers": [number_of(i)]},
            }
        if lower.get("api_key") != KEY:
            return 401, {"message": "Invalid API key"}
        i = int(query.get("lastName", "last-1")[4:])
        if not knows(self.name, i):
            return 200, {"contact": {"error": {"code": 3, "name": "EMPTY_DATA"}, "isCreditCharged": True}}
        phones = [{"number": number_of(i), "phoneType": "mobile", "doNotCall": False}]
        return 200, {
            "contact": {
                "error": None,
                "isCreditCharged": True,
                "data": {"id": f"l{i}", "phoneNumbers": phones},
            }
        }

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def run(
    root: Path,
    label: str,
    order: list[str],
    mode: WaterfallMode,
    fakes: dict[str, FakeVendor],
    searches: int,
    chunk: int,
) -> tuple[int, float, int, int, float]:
    """One market run on a fresh database: (found, spend, paid twice, asked, seconds)."""
    url = f"sqlite:///{root / (label + '.db')}"
    db = Database(url)
    upgrade(db)
    configs = [SourceConfig(name="local", kind="local")] + [
        SourceConfig(
            name=name,
            kind=VENDORS[name]["kind"],
            api_key_env="BENCH_VENDOR_KEY",
            base_url=fakes[name].url,
            price=VENDORS[name]["price"],
            concurrency=16,
            negative_ttl_days=30,
        )
        for name in order
    ]
    specs = parse_sources(configs)
    sources = {s.name: build_source(s, environ={"BENCH_VENDOR_KEY": KEY}) for s in specs if s.kind != "local"}
    finder = Finder(db, Waterfall(db, specs, sources, mode=mode, explore=0.05))
    found = 0
    started = time.monotonic()
    for first in range(0, searches, chunk):
        batch = [search_from_params(search_params(i)) for i in range(first, min(searches, first + chunk))]
        found += sum(answer.found for answer in finder.resolve_many(batch))
    seconds = time.monotonic() - started
    with db.read() as conn:
        stats = repo.call_stats(conn, None)
        twice = repo.paid_twice(conn)
    db.dispose()
    return found, sum(row.spend for row in stats), twice, sum(row.asked for row in stats), seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--searches", type=int, default=10_000)
    parser.add_argument("--chunk", type=int, default=200)
    args = parser.parse_args()
    logging_off()
    configured = list(VENDORS)
    rotations = [configured[k:] + configured[:k] for k in range(len(configured))]
    fakes = {name: FakeVendor(name) for name in VENDORS}
    print(f"load average before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    print(f"{args.searches:,} searches over {len(COUNTRIES)} countries, chunks of {args.chunk}")
    print(
        f"{'order':<40} {'found':>7} {'spend':>10} {'vs configured':>14} {'asked':>7} {'paid twice':>11} "
        f"{'seconds':>8}"
    )
    results: dict[str, tuple[int, float, int, int, float]] = {}
    with tempfile.TemporaryDirectory(prefix="trova-market-") as tmp:
        runs = [(f"fixed {' > '.join(order)}", order, "configured") for order in rotations]
        runs.append(("cost (configured: " + " > ".join(configured) + ")", configured, "cost"))
        for index, (label, order, mode) in enumerate(runs):
            result = run(Path(tmp), f"run{index}", order, mode, fakes, args.searches, args.chunk)  # type: ignore[arg-type]
            results[label] = result
            base = next(iter(results.values()))[1]
            found, spend, twice, asked, seconds = result
            print(
                f"{label:<40} {found:>7,} {spend:>10,.1f} {spend / base:>13.1%} {asked:>7,} {twice:>11} "
                f"{seconds:>8.1f}",
                flush=True,
            )
    for fake in fakes.values():
        fake.stop()
    cost = results[runs[-1][0]]
    best_fixed = max(r[0] for label, r in results.items() if label.startswith("fixed"))
    configured_spend = results[runs[0][0]][1]
    share = cost[1] / configured_spend
    met = cost[0] >= best_fixed and share <= 0.75 and cost[2] == 0
    print(
        f"cost order: found {cost[0]:,} (best fixed order {best_fixed:,}), spend {share:.1%} of the "
        f"configured order's, paid twice {cost[2]}; target (>= best fixed, <= 75 %, 0) "
        f"{'met' if met else 'NOT met'}"
    )
    print(f"load average after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")


def logging_off() -> None:
    import logging

    logging.getLogger("trova").setLevel(logging.ERROR)


if __name__ == "__main__":
    main()
