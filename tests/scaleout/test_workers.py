"""Many worker processes on one PostgreSQL database: no search processed twice, kill -9 survived,
idle workers woken by ``NOTIFY`` (and, on SQLite, the embedded workers by the in-process signal)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.scaleout.support import (
    PRICE,
    Deployment,
    bulk_body,
    contacts_csv,
    deployment,
    listening_workers,
    profile,
    rows,
    scalar,
    wait_until,
)
from tests.support.servers import TrovaServer

SEARCHES = 3000
FOUND = SEARCHES // 2
CREDITS = SEARCHES * PRICE + 1000


def prepare(d: Deployment, tmp: Path) -> str:
    """Half of the searched people are in the contact store; an account that covers every search."""
    d.cli("import", str(contacts_csv(tmp / "contacts.csv", range(0, SEARCHES, 2))), "--quiet")
    return d.account("acme", CREDITS)


def submit_bulk(api: TrovaServer, key: str) -> str:
    response = httpx.post(
        f"{api.base_url}/phone/bulk", json=bulk_body(SEARCHES), headers={"x-api-key": key}, timeout=120
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def batch_status(engine: sa.Engine, batch_id: str) -> str:
    return str(scalar(engine, "SELECT status FROM batches WHERE id = :id", id=batch_id))


def worker_pids(engine: sa.Engine, batch_id: str, outcome: str = "done") -> set[str]:
    found = rows(
        engine,
        "SELECT DISTINCT a.worker_id FROM job_attempts a JOIN jobs j ON j.id = a.job_id "
        "WHERE j.batch_id = :id AND a.outcome = :outcome",
        id=batch_id,
        outcome=outcome,
    )
    return {row[0].split(":")[1] for row in found}


def assert_processed_exactly_once(d: Deployment, engine: sa.Engine, key: str, batch_id: str) -> None:
    """One result per search, one refund per not-found search, one charge per found person, one
    successful attempt per job, and balances that match both the arithmetic and the ledger."""
    assert batch_status(engine, batch_id) == "completed"
    statuses = "SELECT status, count(*) FROM searches WHERE batch_id = :id GROUP BY status"
    by_status = dict(map(tuple, rows(engine, statuses, id=batch_id)))
    assert by_status == {"done": SEARCHES}
    found = scalar(engine, "SELECT count(*) FROM searches WHERE batch_id = :id AND qualification = 'found'",
                   id=batch_id)
    assert found == FOUND
    refunds = rows(engine, "SELECT count(*), count(DISTINCT search_id), sum(sub_delta) FROM ledger_entries "
                   "WHERE batch_id = :id AND kind = 'refund'", id=batch_id)[0]
    assert tuple(refunds) == (SEARCHES - FOUND, SEARCHES - FOUND, (SEARCHES - FOUND) * PRICE)
    assert scalar(engine, "SELECT count(*) FROM batch_people WHERE batch_id = :id", id=batch_id) == FOUND
    done_twice = rows(engine, "SELECT a.job_id FROM job_attempts a JOIN jobs j ON j.id = a.job_id "
                      "WHERE j.batch_id = :id AND a.outcome = 'done' GROUP BY a.job_id HAVING count(*) <> 1",
                      id=batch_id)
    assert done_twice == []
    jobs_not_done = scalar(engine, "SELECT count(*) FROM jobs WHERE batch_id = :id AND status <> 'done'",
                           id=batch_id)
    assert jobs_not_done == 0
    balance = rows(engine, "SELECT a.sub_credits, (SELECT sum(sub_delta) FROM ledger_entries l "
                   "WHERE l.account_id = a.id) FROM accounts a WHERE name = 'acme'")[0]
    assert tuple(balance) == (CREDITS - FOUND * PRICE, CREDITS - FOUND * PRICE)
    info = httpx.get(f"{d.api_url}/phone/bulk", params={"id": batch_id}, headers={"x-api-key": key}).json()
    assert info["stats"]["finished"] == SEARCHES and info["stats"]["credits_cost"] == FOUND * PRICE
    assert info["results"][1]["params"]["linkedin_url"] == profile(1)


@pytest.mark.postgres
@pytest.mark.slow
def test_two_workers_on_one_batch_never_process_the_same_search(pg_url: str, tmp_path: Path) -> None:
    with deployment(pg_url, tmp_path, TROVA_JOB_CHUNK_SIZE="50") as d:
        key = prepare(d, tmp_path)
        engine = d.engine()
        d.worker()
        d.worker()
        wait_until(lambda: listening_workers(engine) == 2, "both workers listening")
        api = d.api()
        d.api_url = api.base_url
        batch_id = submit_bulk(api, key)
        wait_until(lambda: batch_status(engine, batch_id) != "ongoing", "the batch to finish")
        assert_processed_exactly_once(d, engine, key, batch_id)
        assert len(worker_pids(engine, batch_id)) == 2, "both worker processes took part"


@pytest.mark.postgres
@pytest.mark.slow
def test_kill_9_of_one_worker_mid_batch_loses_nothing_and_charges_exactly(
    pg_url: str, tmp_path: Path
) -> None:
    with deployment(pg_url, tmp_path, TROVA_JOB_CHUNK_SIZE="20", TROVA_JOB_LEASE_S="3") as d:
        key = prepare(d, tmp_path)
        engine = d.engine()
        victim, survivor = d.worker(), d.worker()
        wait_until(lambda: listening_workers(engine) == 2, "both workers listening")
        api = d.api()
        d.api_url = api.base_url
        batch_id = submit_bulk(api, key)
        assert victim.proc is not None and survivor.proc is not None
        wait_until(
            lambda: str(victim.proc.pid) in worker_pids(engine, batch_id)  # type: ignore[union-attr]
            or batch_status(engine, batch_id) != "ongoing",
            "the victim to finish a job",
        )
        assert batch_status(engine, batch_id) == "ongoing", "the batch finished before the kill"
        victim.kill()
        wait_until(lambda: batch_status(engine, batch_id) != "ongoing", "the batch to finish")
        assert_processed_exactly_once(d, engine, key, batch_id)
        assert survivor.proc.poll() is None


@pytest.mark.postgres
@pytest.mark.slow
def test_an_idle_worker_process_is_woken_by_notify_not_by_polling(pg_url: str, tmp_path: Path) -> None:
    """Workers poll once an hour here: only the committed ``NOTIFY`` can make them take the search."""
    with deployment(pg_url, tmp_path, TROVA_WORKER_POLL_INTERVAL_S="3600") as d:
        key = d.account("acme", 1000)
        engine = d.engine()
        d.worker()
        wait_until(lambda: listening_workers(engine) == 1, "the worker listening")
        api = d.api()
        headers = {"x-api-key": key}
        created = httpx.post(
            f"{api.base_url}/phone/single", json={"linkedin_url": profile(1)}, headers=headers
        )
        assert created.status_code == 201, created.text
        search_id = created.json()["id"]
        wait_until(
            lambda: httpx.get(f"{api.base_url}/phone/single", params={"id": search_id}, headers=headers)
            .status_code == 200,
            "the worker to answer the search",
        )


@pytest.mark.slow
def test_embedded_workers_on_sqlite_are_woken_in_process(sqlite_url: str, tmp_path: Path) -> None:
    with deployment(sqlite_url, tmp_path, TROVA_WORKER_POLL_INTERVAL_S="3600") as d:
        key = d.account("acme", 1000)
        server = TrovaServer(d.env, args=("serve",), cwd=tmp_path, log_path=tmp_path / "serve.log").start()
        d.stack.callback(server.stop)
        headers = {"x-api-key": key}
        created = httpx.post(f"{server.base_url}/phone/single", json={"linkedin_url": profile(1)},
                             headers=headers)
        assert created.status_code == 201, created.text
        search_id = created.json()["id"]
        wait_until(
            lambda: httpx.get(f"{server.base_url}/phone/single", params={"id": search_id}, headers=headers)
            .status_code == 200,
            "the embedded worker to answer the search",
        )
