"""Webhooks through the real ``trova serve`` subprocess: signed delivery, kill -9, refusals."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from standardwebhooks import Webhook

from tests.support.servers import TrovaServer, free_port
from tests.webhooks.receiver import receiver, wait_for
from trova.accounts.service import create_account
from trova.store import Database
from trova.store.migrate import upgrade
from trova.webhooks import repository as repo
from trova.webhooks.models import Message

pytestmark = pytest.mark.slow

SEARCHES = [
    {"first_name": "Ada", "last_name": "Lovelace", "company_domain": "example.com", "custom": "lead-1"},
    {"linkedin_url": "https://www.linkedin.com/in/someone-unknown", "custom": "lead-2"},
]
OPEN = {"TROVA_WEBHOOK_ALLOW_HTTP": "true", "TROVA_WEBHOOK_ALLOW_PRIVATE": "true"}
LOCKED = {"TROVA_WEBHOOK_ALLOW_HTTP": "false", "TROVA_WEBHOOK_ALLOW_PRIVATE": "false"}


class Setup:
    """A SQLite file shared by the server subprocess and the test, with one account on it."""

    def __init__(self, tmp_path: Path) -> None:
        self.url = f"sqlite:///{tmp_path / 'trova.db'}"
        self.db = Database(self.url)
        upgrade(self.db)
        with self.db.write() as conn:
            created = create_account(conn, "acme", credits=10_000)
        self.key, self.secret = created.api_key, created.webhook_secret

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "TROVA_DATABASE_URL": self.url,
            "TROVA_WEBHOOK_POLL_INTERVAL_S": "0.05",
            "TROVA_WEBHOOK_TIMEOUT_S": "2",
            "TROVA_WORKER_POLL_INTERVAL_S": "0.05",
            "TROVA_WORKER_CONCURRENCY": "1",
            **extra,
        }

    def post_bulk(self, server: TrovaServer, webhook: str) -> httpx.Response:
        body: dict[str, Any] = {"searches": SEARCHES, "custom": {"campaign": "q4"}}
        body["settings"] = {"webhook": webhook}
        return httpx.post(
            f"{server.base_url}/phone/bulk", json=body, headers={"x-api-key": self.key}, timeout=30
        )

    def messages(self, batch_id: str) -> list[Message]:
        with self.db.read() as conn:
            return repo.messages_of_batch(conn, batch_id)


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    made = Setup(tmp_path)
    yield made
    made.db.dispose()


def test_finished_searches_and_batches_are_posted_signed_with_the_spec_bodies(setup: Setup) -> None:
    with receiver() as hook, TrovaServer(setup.env(**OPEN)) as server:
        created = setup.post_bulk(server, hook.url)
        assert created.status_code == 201, created.text
        batch_id = created.json()["id"]
        wait_for(lambda: hook.requests, what="the bulk webhook")
        single = {**SEARCHES[0], "settings": {"webhook": hook.url}}
        headers = {"x-api-key": setup.key}
        single_id = httpx.post(f"{server.base_url}/phone/single", json=single, headers=headers).json()["id"]
        wait_for(lambda: len(hook.requests) == 2, what="the single webhook")
        result = httpx.get(f"{server.base_url}/phone/single", params={"id": single_id}, headers=headers)
    bulk_request, single_request = hook.requests
    bulk = Webhook(setup.secret).verify(bulk_request.body, bulk_request.headers)
    nobody_found = {"cost": 0}
    assert bulk == {
        "event": "bulk_phone_search_finished",
        "id": batch_id,
        "credits": nobody_found,
        "custom": {"campaign": "q4"},
    }
    (message,) = setup.messages(batch_id)
    assert bulk_request.headers["webhook-id"] == message.id
    body = Webhook(setup.secret).verify(single_request.body, single_request.headers)
    assert body == {
        "event": "single_phone_search_finished",
        "id": single_id,
        "credits": nobody_found,
        "result": result.json(),
    }


def test_a_batch_completed_before_a_kill_9_is_delivered_after_the_restart(setup: Setup) -> None:
    port = free_port()
    server = TrovaServer(setup.env(**OPEN, TROVA_WEBHOOK_RETRY_SCHEDULE_S=",".join(["0.2"] * 500)))
    with server:
        batch_id = setup.post_bulk(server, f"http://127.0.0.1:{port}/hook").json()["id"]
        wait_for(lambda: setup.messages(batch_id), what="the batch to complete")
        assert server.proc is not None
        children = psutil.Process(server.proc.pid).children()
        assert children, "the sender runs in a child process"
        server.kill()
    _gone, alive = psutil.wait_procs(children, timeout=30)
    assert alive == [], "the sender process outlived its killed server"
    (queued,) = setup.messages(batch_id)
    assert queued.status == "pending"
    with receiver(port=port) as hook:
        server.start()
        try:
            wait_for(lambda: setup.messages(batch_id)[0].status == "delivered", what="delivery after restart")
        finally:
            server.stop()
    assert hook.requests and {r.headers["webhook-id"] for r in hook.requests} == {queued.id}
    assert Webhook(setup.secret).verify(hook.requests[-1].body, hook.requests[-1].headers)["id"] == batch_id
    with setup.db.read() as conn:
        attempts = repo.attempts_of(conn, queued.id)
    assert attempts[-1].status_code == 200 and all(a.status_code is None for a in attempts[:-1])


def test_with_the_allow_flags_off_bad_urls_are_400_and_internal_addresses_refused_at_delivery(
    setup: Setup,
) -> None:
    hosts = {
        "127.0.0.1": "loopback",
        "localhost": "loopback",
        "10.1.2.3": "private",
        "169.254.169.254": "link-local",
        "[::ffff:127.0.0.1]": "loopback",
    }
    with receiver() as hook, TrovaServer(setup.env(**LOCKED)) as server:
        for url in ("http://hooks.example.com/h", "not a url", "ftp://hooks.example.com/", "https://"):
            refused = setup.post_bulk(server, url)
            assert (refused.status_code, refused.json()) == (400, {"message": "Invalid webhook url"}), url
        batches = {}
        for host in hosts:
            created = setup.post_bulk(server, f"https://{host}:{hook.port}/hook")
            assert created.status_code == 201, created.text
            batches[host] = created.json()["id"]

        def settled() -> bool:
            messages = [setup.messages(batch_id) for batch_id in batches.values()]
            return all(found and found[0].status == "failed" for found in messages)

        wait_for(settled, what="every refusal")
    assert hook.connections == 0
    for host, kind in hosts.items():
        (message,) = setup.messages(batches[host])
        with setup.db.read() as conn:
            (attempt,) = repo.attempts_of(conn, message.id)
        assert (
            attempt.error is not None and kind in attempt.error and "only public addresses" in attempt.error
        )
