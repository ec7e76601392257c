"""``trova serve`` runs its job workers in a child process: it processes batches woken by the API,
relays its counters to ``/metrics``, is started again when it dies, and dies with the server."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx
import psutil
import pytest

from tests.support.processes import spawned_children
from tests.support.servers import TrovaServer, run_trova
from trova.ingest.service import import_paths
from trova.store import Database
from trova.store.migrate import upgrade

pytestmark = pytest.mark.slow

PEOPLE = 50
T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], what: str, timeout_s: float = 60.0) -> T:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if found := probe():
            return found
        time.sleep(0.05)
    raise TimeoutError(what)


def run_batch(client: httpx.Client, tag: str) -> dict[str, int]:
    searches = [
        {"linkedin_url": f"https://www.linkedin.com/in/child-{i}", "custom": f"{tag}{i}"}
        for i in range(PEOPLE)
    ]
    created = client.post("/phone/bulk", json={"searches": searches})
    assert created.status_code == 201, created.text

    def completed() -> dict[str, int] | None:
        body = client.get(f"/phone/bulk?id={created.json()['id']}").json()
        return dict(body["stats"]) if body["status"] == "completed" else None

    return wait_for(completed, f"batch {tag} completed")


def test_the_worker_child_processes_batches_is_restarted_and_dies_with_the_server(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'trova.db'}"
    db = Database(url)
    upgrade(db)
    contacts = tmp_path / "contacts.csv"
    contacts.write_text(
        "linkedin_url,first_name,last_name,company_name,phone,country\n"
        + "".join(
            f"https://www.linkedin.com/in/child-{i},First{i},Last{i},Company {i},+33 6 {20_000_000 + i},FR\n"
            for i in range(PEOPLE)
        ),
        encoding="utf-8",
    )
    assert import_paths(db, [contacts]).records_stored == PEOPLE
    db.dispose()
    # a poll interval longer than the test: only the API's wake-up through the socket can be this quick
    env = {"TROVA_DATABASE_URL": url, "TROVA_LOG_LEVEL": "warning", "TROVA_WORKER_POLL_INTERVAL_S": "600"}
    key = run_trova("accounts", "create", "child", "--credits", "100000", env=env).stdout.splitlines()[-1]
    server = TrovaServer(env, cwd=tmp_path, log_path=tmp_path / "serve.log").start()
    assert server.proc is not None
    parent = psutil.Process(server.proc.pid)
    try:
        worker = wait_for(lambda: spawned_children(parent), "the worker child")[0]
        client = httpx.Client(base_url=server.base_url, headers={"x-api-key": key}, timeout=30)
        assert run_batch(client, "a")["found"] == PEOPLE
        metrics = client.get("/metrics").text
        assert f'trova_searches_resolved_total{{qualification="found"}} {float(PEOPLE)}' in metrics, metrics
        assert 'trova_worker_wakeups_total{source="parent"}' in metrics

        worker.kill()
        second = wait_for(
            lambda: [p for p in spawned_children(parent) if p.pid != worker.pid], "a new worker child"
        )[0]
        assert run_batch(client, "b")["found"] == PEOPLE
        family = wait_for(lambda: [second, *second.children(recursive=True)], "the new child's processes")
        client.close()
    finally:
        server.kill()
    _gone, alive = psutil.wait_procs(family, timeout=30)
    assert alive == [], [p.pid for p in alive]
    assert not worker.is_running()


def test_every_api_process_of_serve_workers_wakes_the_worker_child(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'trova.db'}"
    upgrade(Database(url))
    # a poll interval longer than the test: a single search done in time was woken up, by the API
    # process that took it (with --workers 2 the supervisor serves no request itself)
    env = {"TROVA_DATABASE_URL": url, "TROVA_LOG_LEVEL": "warning", "TROVA_WORKER_POLL_INTERVAL_S": "600"}
    key = run_trova("accounts", "create", "woken", "--credits", "1000", env=env).stdout.splitlines()[-1]
    server = TrovaServer(env, args=("serve", "--workers", "2"), cwd=tmp_path, log_path=tmp_path / "serve.log")
    server.start()
    try:
        with httpx.Client(base_url=server.base_url, headers={"x-api-key": key}, timeout=30) as client:
            for n in range(6):  # the first may be found by the child's first look; the others not
                created = client.post(
                    "/phone/single", json={"linkedin_url": f"https://www.linkedin.com/in/w{n}"}
                )
                assert created.status_code == 201, created.text
                search_id = created.json()["id"]

                def done(search_id: str = search_id) -> bool:
                    return client.get("/phone/single", params={"id": search_id}).status_code == 200

                wait_for(done, f"search {n} done")
    finally:
        server.stop()
