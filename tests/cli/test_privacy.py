"""The privacy commands and the retention loop against real ``trova serve`` processes (SQLite file)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.privacy.support import (
    ADA_BY_NAME,
    ADA_BY_URL,
    ADA_PHONE,
    ADA_URL,
    BOB_BY_URL,
    BOB_PHONE,
    BOB_URL,
    CARL_BY_NAME,
    CARL_PHONE,
    rows_holding,
    write_csv,
)
from tests.support.servers import TrovaServer, run_trova
from trova.batches import repository as batches_repo
from trova.store import Database, utcnow

WAIT_S = 60.0
CONTACTS = [
    {
        "linkedin_url": ADA_URL,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "company_domain": "example.com",
        "phone": ADA_PHONE,
    },
    {
        "linkedin_url": BOB_URL,
        "first_name": "Bob",
        "last_name": "Babbage",
        "company_domain": "example.com",
        "phone": BOB_PHONE,
    },
    {"first_name": "Carl", "last_name": "Gauss", "company_name": "Gauss Ltd", "phone": CARL_PHONE},
]


@dataclass
class Site:
    """One Trova installation: its database file, environment and ``trova serve``."""

    tmp: Path
    env: dict[str, str]
    server: TrovaServer

    @property
    def url(self) -> str:
        return self.env["TROVA_DATABASE_URL"]

    def cli(self, *args: str, check: bool = True) -> str:
        result = run_trova(*args, env=self.env, cwd=self.tmp, check=check)
        return result.stdout if check else result.stdout + result.stderr

    def account(self, name: str, credits: int = 1000) -> str:
        return self.cli("accounts", "create", name, "--credits", str(credits)).strip().splitlines()[-1]

    def client(self, key: str) -> httpx.Client:
        return httpx.Client(base_url=self.server.base_url, headers={"x-api-key": key}, timeout=30)


def start_site(tmp: Path, extra_env: dict[str, str] | None = None) -> Site:
    env = {
        "TROVA_DATABASE_URL": f"sqlite:///{tmp / 'trova.db'}",
        "TROVA_LOG_LEVEL": "warning",
        "TROVA_RATE_LIMIT_POST_PER_S": "1000",
        "TROVA_WORKER_POLL_INTERVAL_S": "0.05",
        **(extra_env or {}),
    }
    site = Site(tmp, env, TrovaServer(env, cwd=tmp))
    site.cli("migrate", check=False)
    return site


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    instance = start_site(tmp_path)
    instance.cli("import", str(write_csv(tmp_path / "crm.csv", CONTACTS)))
    instance.server.start()
    yield instance
    instance.server.stop()


def single(site: Site, key: str, search: dict[str, str]) -> dict[str, Any]:
    """POST /phone/single, then GET it until done."""
    with site.client(key) as client:
        created = client.post("/phone/single", json=search)
        assert created.status_code == 201, created.text
        return wait(client, f"/phone/single?id={created.json()['id']}", lambda r: r.status_code == 200)


def bulk(site: Site, key: str, searches: list[dict[str, str]]) -> dict[str, Any]:
    with site.client(key) as client:
        created = client.post("/phone/bulk", json={"searches": searches})
        assert created.status_code == 201, created.text
        path = f"/phone/bulk?id={created.json()['id']}"
        return wait(client, path, lambda r: r.json()["general"]["status"] != "ongoing")


def wait(client: httpx.Client, path: str, done: Any) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        response = client.get(path)
        if done(response):
            body: dict[str, Any] = response.json()
            return body
        time.sleep(0.05)
    raise AssertionError(f"{path} not done within {WAIT_S}s")


def holding(site: Site, number: str) -> list[str]:
    db = Database(site.url)
    try:
        return rows_holding(db, number)
    finally:
        db.dispose()


def credits(site: Site, key: str) -> int:
    with site.client(key) as client:
        return int(client.get("/account/info").json()["credits"])


def test_suppressed_people_and_numbers_are_never_returned_nor_charged(site: Site) -> None:
    key = site.account("acme")
    assert "suppressed #1\tphone" in site.cli(
        "suppress", "--phone", "+33 6 12 34 56 78", "--note", "ticket 12"
    )
    site.cli("suppress", "--linkedin", "linkedin.com/in/BOB-BABBAGE")
    site.cli("suppress", "--first", "carl", "--last", "GAUSS", "--company", "Gauss Limited")

    assert single(site, key, ADA_BY_URL)["qualification"] == "not_found"
    assert single(site, key, ADA_BY_NAME)["qualification"] == "not_found"
    result = bulk(site, key, [ADA_BY_NAME, BOB_BY_URL, CARL_BY_NAME])
    assert [row["qualification"] for row in result["results"]] == ["not_found"] * 3
    assert result["stats"]["credits_cost"] == 0
    assert credits(site, key) == 1000
    assert site.cli("audit", "--account", "acme").strip() == "no audit entries"

    listing = site.cli("suppress", "list").splitlines()
    assert [line.split("\t")[1] for line in listing] == ["phone", "linkedin", "name_company"]
    assert ADA_PHONE not in "\n".join(listing)
    assert site.cli("suppress", "remove", "2").startswith("removed #2\tlinkedin")
    assert single(site, key, BOB_BY_URL)["number"] == BOB_PHONE
    assert credits(site, key) == 960


def test_suppress_file_erase_and_audit_commands(site: Site) -> None:
    first, second, third = (site.account(name) for name in ("first", "second", "third"))
    assert single(site, first, ADA_BY_URL)["number"] == ADA_PHONE
    assert single(site, second, ADA_BY_NAME)["number"] == ADA_PHONE
    assert single(site, third, BOB_BY_URL)["number"] == BOB_PHONE

    audit = site.cli("audit", "--linkedin", ADA_URL).splitlines()
    assert audit[0].startswith("time (UTC)\taccount\tnumber")
    assert sorted(line.split("\t")[1] for line in audit[1:-1]) == ["first", "second"]
    assert audit[-1] == "2 answer(s) to 2 account(s): first, second"
    assert [line.split("\t")[1] for line in site.cli("audit", "--phone", BOB_PHONE).splitlines()[1:-1]] == [
        "third"
    ]

    erased = site.cli("erase", "--first", "Ada", "--last", "Lovelace", "--domain", "example.com")
    assert "people deleted: 1" in erased
    assert "search results with the number removed: 2 (ledger kept)" in erased
    assert holding(site, ADA_PHONE) == []
    again = site.cli("import", str(site.tmp / "crm.csv"), check=False)
    assert "suppressed: 1" in again
    assert single(site, third, ADA_BY_URL)["qualification"] == "not_found"
    audit = site.cli("audit", "--linkedin", ADA_URL).splitlines()
    assert sorted((line.split("\t")[1], line.split("\t")[2]) for line in audit[1:-1]) == [
        ("first", "(erased)"),
        ("second", "(erased)"),
    ]

    path = write_csv(site.tmp / "optout.csv", [{"phone": BOB_PHONE}, {"first_name": "Nobody"}])
    output = site.cli("suppress", "--file", str(path), check=False)
    assert "2 rows read from optout.csv: 1 entries added, 0 already suppressed, 1 rows skipped" in output
    assert "optout.csv:3: no person" in output
    assert single(site, third, BOB_BY_URL)["qualification"] == "not_found"

    assert "phone_observations.e164" in holding(site, BOB_PHONE)
    erase_list = write_csv(site.tmp / "erase.csv", [CONTACTS[1], {"company_name": "Nobody Inc"}])
    output = site.cli("erase", "--file", str(erase_list), check=False)
    assert "2 rows read from erase.csv, 1 skipped" in output and "people deleted: 1" in output
    assert holding(site, BOB_PHONE) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("suppress",), "error: Give --linkedin URL, --phone NUMBER"),
        (("suppress", "--phone", "0612"), "error: not a phone number: '0612'"),
        (("suppress", "--first", "Ada", "--last", "Lovelace"), "error: Give --linkedin URL"),
        (("erase", "--linkedin", "https://example.com/in/x"), "error: not a LinkedIn profile URL"),
        (("suppress", "remove", "42"), "error: no suppression entry #42"),
        (("audit", "--account", "ghost"), "error: No such account: ghost"),
        (("suppress", "--file", "missing.csv"), "error: missing.csv: cannot read"),
    ],
)
def test_bad_input_is_one_line_on_stderr(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    env = {"TROVA_DATABASE_URL": f"sqlite:///{tmp_path / 'trova.db'}"}
    run_trova("migrate", env=env)
    result = run_trova(*args, env=env, cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith(message) and len(result.stderr.strip().splitlines()) == 1


def test_retention_loop_inside_serve_deletes_expired_results(tmp_path: Path) -> None:
    site = start_site(tmp_path, {"TROVA_RETENTION_INTERVAL_S": "0.2", "TROVA_RESULT_RETENTION_DAYS": "30"})
    site.cli("import", str(write_csv(tmp_path / "crm.csv", CONTACTS)))
    with site.server:
        key = site.account("acme")
        with site.client(key) as client:
            ids = [client.post("/phone/single", json=ADA_BY_URL).json()["id"] for _ in range(2)]
            for search_id in ids:
                wait(client, f"/phone/single?id={search_id}", lambda r: r.status_code == 200)
            db = Database(site.url)
            with db.write() as conn:
                past = utcnow() - dt.timedelta(days=31)
                batches_repo.set_batch_times(conn, ids[0], created_at=past, completed_at=past)
            db.dispose()
            gone = wait(client, f"/phone/single?id={ids[0]}", lambda r: r.status_code == 404)
            assert gone == {"message": "Search not found"}
            assert client.get(f"/phone/single?id={ids[1]}").json()["number"] == ADA_PHONE
        ledger = site.cli("accounts", "ledger", "acme")
        assert ledger.count("reserve") == 2
