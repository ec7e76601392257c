"""Score Trova on a generated benchmark: precision and recall per category and overall.

    .venv/bin/python bench/generate.py --people 20000 --out /tmp/trova-bench
    .venv/bin/python bench/score.py /tmp/trova-bench            # real `trova import` + real API
    .venv/bin/python bench/score.py /tmp/trova-bench --direct   # real import, Finder.resolve_many in-process
    .venv/bin/python bench/score.py /tmp/trova-dense --direct --orders   # + a second import order

With ``--orders`` the same records are also imported into a second fresh store in another order:
every file's rows shuffled and dealt into three parts, imported by three ``trova import`` runs (one
per part, each keeping the file names, so sources are the same). Every search is answered by both
stores (``Finder.resolve_many``) and the answers that differ (number, sources, line type or last
seen) are counted: identity must not depend on the order of the records (issue 13), so it must be 0.

Imports the record files with the real ``trova import`` command into a fresh SQLite database (or
``--db URL``), then runs every search of ``searches.jsonl``: through a ``trova serve`` subprocess
(POST /phone/bulk in batches of 3,000, then GET until completed), or with ``--direct`` through
``Finder.resolve_many`` (upstream: the waterfall of the settings) and ``search_from_params``.
Precision = returned numbers that are the expected one; recall = resolvable searches (expected
number not null) answered with that number. The ``nickname`` category's recall is printed once more
on its own line with the state of the fallback, to compare ``TROVA_NICKNAMES=true`` with ``false``.
Exit status 0 when the targets (precision >= 99.9%, recall >= 98%) are met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

RECORD_FILES = ("crm.csv", "vendor_a.tsv", "vendor_b.jsonl", "enrich.csv")
BATCH = 3000
PRECISION_TARGET = 0.999
RECALL_TARGET = 0.98


@dataclass
class Tally:
    searches: int = 0
    resolvable: int = 0
    returned: int = 0
    correct: int = 0
    wrong: int = 0

    def add(self, expected: str | None, got: str | None) -> None:
        self.searches += 1
        self.resolvable += expected is not None
        if got is not None:
            self.returned += 1
            self.correct += got == expected
            self.wrong += got != expected

    @property
    def precision(self) -> float:
        return self.correct / self.returned if self.returned else 1.0

    @property
    def recall(self) -> float:
        return self.correct / self.resolvable if self.resolvable else 1.0


def trova(*args: str, env: dict[str, str], capture: bool = True) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "trova", *args]
    result = subprocess.run(command, env=env, capture_output=capture, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(
            f"trova {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


def import_records(directory: Path, env: dict[str, str], *, migrate: bool = True) -> float:
    files = [str(directory / name) for name in RECORD_FILES if (directory / name).exists()]
    if migrate:
        trova("migrate", env=env)
    started = time.monotonic()
    result = trova("import", "--quiet", *files, env=env)
    elapsed = time.monotonic() - started
    print(result.stdout.strip(), file=sys.stderr)
    return elapsed


ORDER_PARTS = 3


def reordered(directory: Path, out: Path, seed: int = 13) -> list[Path]:
    """The record files' rows shuffled and dealt into :data:`ORDER_PARTS` directories (same file
    names, headers kept): another order and split of the same records."""
    rng = random.Random(seed)
    parts = [out / f"part{k}" for k in range(ORDER_PARTS)]
    for part in parts:
        part.mkdir(parents=True)
    for name in RECORD_FILES:
        if not (directory / name).exists():
            continue
        lines = (directory / name).read_text(encoding="utf-8").splitlines(keepends=True)
        header, rows = ([], lines) if name.endswith(".jsonl") else (lines[:1], lines[1:])
        rng.shuffle(rows)
        for k, part in enumerate(parts):
            (part / name).write_text("".join(header + rows[k::ORDER_PARTS]), encoding="utf-8")
    return parts


Full = tuple[Any, ...]


def answers_full(searches: Sequence[dict[str, Any]], database_url: str) -> list[Full | None]:
    """Every field of each answer that must not depend on the order of the records."""
    from trova.errors import InvalidSearch
    from trova.finder.service import Finder
    from trova.people.normalise import search_from_params
    from trova.settings import get_settings
    from trova.store import Database

    db = Database(database_url)
    finder = Finder(db, nicknames=get_settings().nicknames)
    found: list[Full | None] = []
    for batch in batches(searches):
        normalised = []
        for search in batch:
            try:
                normalised.append(search_from_params(search["params"]))
            except InvalidSearch:
                normalised.append(None)
        resolved = iter(finder.resolve_many([search for search in normalised if search is not None]))
        for search in normalised:
            answer = None if search is None else next(resolved)
            found.append(
                None
                if answer is None
                else (answer.number, answer.sources, answer.line_type, answer.last_seen)
            )
    db.dispose()
    return found


def differing_answers(
    directory: Path, scratch: Path, searches: Sequence[dict[str, Any]], first_url: str
) -> int:
    """Import the records again in another order and split, and count the searches answered otherwise."""
    second_url = f"sqlite:///{scratch / 'second-order.db'}"
    env = {**os.environ, "TROVA_DATABASE_URL": second_url}
    trova("migrate", env=env)
    started = time.monotonic()
    for part in reordered(directory, scratch / "second-order"):
        import_records(part, env, migrate=False)
    print(f"second order: {ORDER_PARTS} imports in {time.monotonic() - started:.1f}s", file=sys.stderr)
    first, second = answers_full(searches, first_url), answers_full(searches, second_url)
    differ = [index for index, (a, b) in enumerate(zip(first, second, strict=True)) if a != b]
    for index in differ[:10]:
        params = json.dumps(searches[index]["params"], ensure_ascii=False)
        print(f"  differs: {first[index]} vs {second[index]}: {params}")
    return len(differ)


def load_searches(directory: Path) -> list[dict[str, Any]]:
    with (directory / "searches.jsonl").open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def batches(items: Sequence[dict[str, Any]], size: int = BATCH) -> Iterator[Sequence[dict[str, Any]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def answers_direct(searches: Sequence[dict[str, Any]], database_url: str) -> list[str | None]:
    from trova.errors import InvalidSearch
    from trova.finder.service import Finder
    from trova.people.models import Search
    from trova.people.normalise import search_from_params
    from trova.settings import get_settings
    from trova.sources.waterfall import from_settings
    from trova.store import Database

    db = Database(database_url)
    settings = get_settings()
    finder = Finder(db, from_settings(db, settings), nicknames=settings.nicknames)
    answers: list[str | None] = []
    for batch in batches(searches):
        normalised: list[Search | None] = []
        for search in batch:
            try:
                normalised.append(search_from_params(search["params"]))
            except InvalidSearch:
                normalised.append(None)
        valid = [search for search in normalised if search is not None]
        resolved = iter(finder.resolve_many(valid))
        answers.extend(None if search is None else next(resolved).number for search in normalised)
    db.dispose()
    return answers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers_api(searches: Sequence[dict[str, Any]], env: dict[str, str], log: Path) -> list[str | None]:
    credits = 40 * len(searches) + 1000
    key = trova(
        "accounts", "create", f"bench-{os.getpid()}", "--credits", str(credits), env=env
    ).stdout.split()[-1]
    port = free_port()
    with log.open("ab") as log_handle:
        server = subprocess.Popen(
            [sys.executable, "-m", "trova", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log_handle,
            stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_ready(base, server)
            with httpx.Client(base_url=base, headers={"x-api-key": key}, timeout=120) as client:
                ids = [submit(client, batch) for batch in batches(searches)]
                return [answer for batch_id in ids for answer in collect(client, batch_id)]
        finally:
            server.terminate()
            server.wait(timeout=60)


def wait_ready(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"trova serve exited with {server.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("trova serve did not become ready")


def submit(client: httpx.Client, batch: Sequence[dict[str, Any]]) -> str:
    response = client.post("/phone/bulk", json={"searches": [search["params"] for search in batch]})
    if response.status_code != 201:
        raise SystemExit(f"POST /phone/bulk: {response.status_code} {response.text[:300]}")
    return str(response.json()["id"])


def collect(client: httpx.Client, batch_id: str) -> list[str | None]:
    while True:
        body = client.get("/phone/bulk", params={"id": batch_id}).json()
        if body["general"]["status"] == "completed":
            return [result.get("number") for result in sorted(body["results"], key=lambda r: r["index"])]
        if body["general"]["status"] == "failed":
            raise SystemExit(f"batch {batch_id} failed")
        time.sleep(0.2)


def report(searches: Sequence[dict[str, Any]], answers: Sequence[str | None], show: int) -> bool:
    tallies: dict[str, Tally] = defaultdict(Tally)
    overall = Tally()
    wrong: list[tuple[dict[str, Any], str | None]] = []
    for search, got in zip(searches, answers, strict=True):
        tallies[search["category"]].add(search["expected"], got)
        overall.add(search["expected"], got)
        if got != search["expected"]:
            wrong.append((search, got))
    columns = ("searches", "resolvable", "returned", "wrong", "precision", "recall")
    print(f"{'category':34} " + " ".join(f"{name:>10}" for name in columns))
    for category, tally in [*sorted(tallies.items()), ("OVERALL", overall)]:
        print(
            f"{category:34} {tally.searches:10d} {tally.resolvable:10d} {tally.returned:10d} "
            f"{tally.wrong:10d} {tally.precision:10.2%} {tally.recall:10.2%}"
        )
    wrong.sort(key=lambda pair: pair[1] is None)  # numbers of someone else first, then misses
    for search, got in wrong[:show]:
        params = json.dumps(search["params"], ensure_ascii=False)
        kind = "miss" if got is None else "WRONG"
        print(f"  {kind} [{search['category']}] expected {search['expected']} got {got}: {params}")
    nickname = tallies.get("nickname")
    if nickname is not None:
        from trova.settings import get_settings

        print(
            f"nickname searches, fallback {'on' if get_settings().nicknames else 'off'}: "
            f"recall {nickname.recall:.2%} ({nickname.correct:,} of {nickname.resolvable:,}), "
            f"precision {nickname.precision:.2%} ({nickname.wrong:,} wrong)"
        )
    met = overall.precision >= PRECISION_TARGET and overall.recall >= RECALL_TARGET
    print(
        f"targets: precision >= {PRECISION_TARGET:.1%} ({overall.precision:.2%}), "
        f"recall >= {RECALL_TARGET:.0%} ({overall.recall:.2%}): {'MET' if met else 'NOT MET'}"
    )
    return met


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path, help="output directory of bench/generate.py")
    parser.add_argument("--direct", action="store_true", help="call Finder.resolve_many instead of the API")
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file in a temporary directory)")
    parser.add_argument("--show", type=int, default=15, help="print this many wrong or missed answers")
    parser.add_argument("--orders", action="store_true", help="also import in another order and compare")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="trova-score-") as scratch:
        database_url = args.db or f"sqlite:///{Path(scratch) / 'score.db'}"
        env = {**os.environ, "TROVA_DATABASE_URL": database_url}
        import_s = import_records(args.directory, env)
        searches = load_searches(args.directory)
        started = time.monotonic()
        if args.direct:
            answers = answers_direct(searches, database_url)
        else:
            answers = answers_api(searches, env, Path(scratch) / "serve.log")
        resolve_s = time.monotonic() - started
        print(
            f"import: {import_s:.1f}s; {len(searches):,} searches answered in {resolve_s:.1f}s "
            f"({'direct' if args.direct else 'API'})"
        )
        met = report(searches, answers, args.show)
        if args.orders:
            differ = differing_answers(args.directory, Path(scratch), searches, database_url)
            print(f"answers differing between two import orders: {differ:,} of {len(searches):,}")
            met = met and differ == 0
        return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
