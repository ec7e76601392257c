"""kill -9 of a server in the middle of a 3,000-search batch: the restarted server finishes it exactly."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.support.servers import TrovaServer, run_trova
from trova.accounts import service as accounts
from trova.accounts.models import Split
from trova.ingest.service import import_paths
from trova.store import Database
from trova.store.migrate import upgrade
from trova.store.tables import ledger_entries, searches

KNOWN_PEOPLE = 800
DISTINCT_SEARCHED = 1200
SEARCHES = 3000
CREDITS = 200_000


def write_contacts(path: Path) -> None:
    lines = ["linkedin_url,first_name,last_name,company_name,phone,country"]
    lines += [
        f"https://www.linkedin.com/in/durable-{i},First{i},Last{i},Company {i},+33 6 {10_000_000 + i},FR"
        for i in range(KNOWN_PEOPLE)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def wait_until(predicate: object, timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise TimeoutError("condition not reached")


@pytest.mark.slow
def test_kill_9_mid_batch_then_restart_finishes_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'trova.db'}"
    monkeypatch.setenv("TROVA_DATABASE_URL", url)
    db = Database(url)
    upgrade(db)
    write_contacts(tmp_path / "contacts.csv")
    report = import_paths(db, [tmp_path / "contacts.csv"])
    assert report.records_stored == KNOWN_PEOPLE
    env = {
        "TROVA_DATABASE_URL": url,
        "TROVA_JOB_CHUNK_SIZE": "50",
        "TROVA_JOB_LEASE_S": "2",
        "TROVA_WORKER_POLL_INTERVAL_S": "0.1",
        "TROVA_LOG_LEVEL": "warning",
    }
    key = run_trova("accounts", "create", "durable", "--credits", str(CREDITS), env=env).stdout.splitlines()[
        -1
    ]
    body = {
        "searches": [
            {"linkedin_url": f"https://www.linkedin.com/in/durable-{i % DISTINCT_SEARCHED}", "custom": i}
            for i in range(SEARCHES)
        ]
    }
    server = TrovaServer(env, cwd=tmp_path)
    server.start()
    try:
        client = httpx.Client(base_url=server.base_url, headers={"x-api-key": key}, timeout=30)
        created = client.post("/phone/bulk", json=body)
        assert created.status_code == 201
        batch_id = created.json()["id"]
        wait_until(lambda: client.get(f"/phone/bulk?id={batch_id}").json()["stats"]["finished"] > 0)
        server.kill()
        client.close()
        server.start()
        client = httpx.Client(base_url=server.base_url, headers={"x-api-key": key}, timeout=30)
        wait_until(lambda: client.get(f"/phone/bulk?id={batch_id}").json()["general"]["status"] != "ongoing")
        result = client.get(f"/phone/bulk?id={batch_id}").json()
        info = client.get("/account/info").json()
        client.close()
    finally:
        server.stop()

    assert result["general"]["status"] == "completed"
    results = result["results"]
    assert [r["index"] for r in results] == list(range(SEARCHES))
    assert [r["custom"] for r in results] == list(range(SEARCHES))
    expected_found = [i % DISTINCT_SEARCHED < KNOWN_PEOPLE for i in range(SEARCHES)]
    assert [r["qualification"] == "found" for r in results] == expected_found
    for i, r in enumerate(results):
        if expected_found[i]:
            assert r["number"] == f"+336{10_000_000 + i % DISTINCT_SEARCHED}" and r["country"] == "FR"
    cost = KNOWN_PEOPLE * 40
    assert result["stats"] == {
        "requested": SEARCHES,
        "finished": SEARCHES,
        "found": sum(expected_found),
        "valid": sum(expected_found),
        "credits_cost": cost,
        "credits_to_refund": SEARCHES * 40 - cost,
    }
    assert info["credits"] == CREDITS - cost
    with db.read() as conn:
        account = accounts.find_account(conn, "durable")
        assert account is not None
        assert accounts.ledger_balance(conn, account.id) == Split(CREDITS - cost, 0)
        refunds = conn.execute(
            sa.select(sa.func.count(), sa.func.count(sa.distinct(ledger_entries.c.search_id))).where(
                ledger_entries.c.kind == "refund", ledger_entries.c.batch_id == batch_id
            )
        ).one()
        charged = conn.execute(
            sa.select(sa.func.count()).where(searches.c.batch_id == batch_id, searches.c.charged.is_(True))
        ).scalar_one()
    assert tuple(refunds) == (SEARCHES - KNOWN_PEOPLE, SEARCHES - KNOWN_PEOPLE)
    assert charged == KNOWN_PEOPLE
    db.dispose()
