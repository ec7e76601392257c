"""Webhooks through the real ``trova serve`` subprocess: signed delivery, kill -9, refusals, the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from standardwebhooks import Webhook

from tests.support.servers import TrovaServer, free_port, run_trova
from tests.webhooks.receiver import Reply, receiver, wait_for

SEARCHES = [
    {"first_name": "Ada", "last_name": "Lovelace", "company_domain": "example.com", "custom": "lead-1"},
    {"linkedin_url": "https://www.linkedin.com/in/someone-unknown", "custom": "lead-2"},
]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "TROVA_DATABASE_URL": f"sqlite:///{tmp_path / 'trova.db'}",
        "TROVA_WEBHOOK_ALLOW_HTTP": "true",
        "TROVA_WEBHOOK_ALLOW_PRIVATE": "true",
        "TROVA_WEBHOOK_POLL_INTERVAL_S": "0.05",
        "TROVA_WEBHOOK_TIMEOUT_S": "2",
        "TROVA_WORKER_POLL_INTERVAL_S": "0.05",
        "TROVA_WORKER_CONCURRENCY": "1",
        **extra,
    }


def _account(env: dict[str, str], name: str = "acme") -> tuple[str, str]:
    key = run_trova("accounts", "create", name, "--credits", "10000", env=env).stdout.strip().splitlines()[-1]
    secret = run_trova("accounts", "webhook-secret", name, env=env).stdout.strip().splitlines()[-1]
    return key, secret


def _post_bulk(server: TrovaServer, key: str, webhook: str) -> httpx.Response:
    body: dict[str, Any] = {"searches": SEARCHES, "custom": {"campaign": "q4"}, "settings": {"webhook": webhook}}
    return httpx.post(f"{server.base_url}/phone/bulk", json=body, headers={"x-api-key": key}, timeout=30)


def _completed(server: TrovaServer, key: str, batch_id: str) -> bool:
    answer = httpx.get(f"{server.base_url}/phone/bulk", params={"id": batch_id}, headers={"x-api-key": key})
    return bool(answer.json()["general"]["status"] == "completed")


def test_a_finished_batch_is_posted_signed_with_the_spec_body(tmp_path: Path) -> None:
    env = _env(tmp_path)
    key, secret = _account(env)
    with receiver() as hook, TrovaServer(env) as server:
        created = _post_bulk(server, key, hook.url)
        assert created.status_code == 201, created.text
        batch_id = created.json()["id"]
        wait_for(lambda: hook.requests, what="the webhook")
    (request,) = hook.requests
    body = Webhook(secret).verify(request.body, request.headers)
    assert body["event"] == "bulk_phone_search_finished"
    assert body["id"] == batch_id and body["custom"] == {"campaign": "q4"}
    assert set(body["credits"]) == {"cost"}
    assert request.headers["webhook-id"].startswith("msg_")


def test_a_batch_completed_before_a_kill_9_is_delivered_after_the_restart(tmp_path: Path) -> None:
    port = free_port()
    env = _env(tmp_path, TROVA_WEBHOOK_RETRY_SCHEDULE_S=",".join(["0.2"] * 200))
    key, secret = _account(env)
    server = TrovaServer(env)
    with server:
        created = _post_bulk(server, key, f"http://127.0.0.1:{port}/hook")
        batch_id = created.json()["id"]
        wait_for(lambda: _completed(server, key, batch_id), what="the batch")
        server.kill()
    listed = run_trova("webhooks", "list", env=env).stdout
    assert "pending" in listed and "delivered" not in listed
    with receiver(port=port) as hook:
        server.start()
        try:
            wait_for(lambda: hook.requests, what="delivery after the restart")
        finally:
            server.stop()
    body = Webhook(secret).verify(hook.requests[0].body, hook.requests[0].headers)
    assert body["id"] == batch_id
    assert {r.headers["webhook-id"] for r in hook.requests} == {hook.requests[0].headers["webhook-id"]}
    shown = run_trova("webhooks", "show", hook.requests[0].headers["webhook-id"], env=env).stdout
    assert "delivered" in shown and "ConnectError" in shown


def test_with_the_allow_flags_off_http_is_refused_at_submission(tmp_path: Path) -> None:
    env = _env(tmp_path, TROVA_WEBHOOK_ALLOW_HTTP="false", TROVA_WEBHOOK_ALLOW_PRIVATE="false")
    key, _secret = _account(env)
    with TrovaServer(env) as server:
        for url in ("http://hooks.example.com/h", "not a url", "ftp://hooks.example.com/"):
            refused = _post_bulk(server, key, url)
            assert refused.status_code == 400
            assert refused.json() == {"message": "Invalid webhook url"}


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "10.1.2.3", "169.254.169.254", "[::ffff:127.0.0.1]"])
def test_with_the_allow_flags_off_internal_addresses_are_refused_at_delivery(tmp_path: Path, host: str) -> None:
    env = _env(tmp_path, TROVA_WEBHOOK_ALLOW_HTTP="false", TROVA_WEBHOOK_ALLOW_PRIVATE="false")
    key, _secret = _account(env)
    with receiver() as hook, TrovaServer(env) as server:
        created = _post_bulk(server, key, f"https://{host}:{hook.port}/hook")
        assert created.status_code == 201, created.text
        wait_for(lambda: "failed" in run_trova("webhooks", "list", "--failed", env=env).stdout, what="refusal")
    assert hook.connections == 0
    message_id = run_trova("webhooks", "list", "--failed", env=env).stdout.split("msg_", 1)[1].split()[0]
    shown = run_trova("webhooks", "show", f"msg_{message_id}", env=env).stdout
    assert "only public addresses" in shown and "1 attempt(s)" in shown


def test_operators_list_show_and_redeliver(tmp_path: Path) -> None:
    env = _env(tmp_path)
    key, _secret = _account(env)
    run_trova("accounts", "create", "other", env=env)
    with receiver([Reply(500, body=b"not now")]) as hook, TrovaServer(env) as server:
        run_trova("accounts", "set-webhook", "acme", hook.url, env=env)
        created = httpx.post(
            f"{server.base_url}/phone/bulk", json={"searches": SEARCHES}, headers={"x-api-key": key}, timeout=30
        )
        assert created.status_code == 201, created.text
        wait_for(lambda: len(hook.requests) == 2, what="the retry")
        message_id = hook.requests[0].headers["webhook-id"]
        wait_for(lambda: "delivered" in run_trova("webhooks", "list", env=env).stdout, what="delivery")
        listed = run_trova("webhooks", "list", "--account", "acme", env=env).stdout
        assert message_id in listed and "bulk_phone_search_finished" in listed
        assert message_id not in run_trova("webhooks", "list", "--account", "other", env=env).stdout
        assert message_id not in run_trova("webhooks", "list", "--failed", env=env).stdout
        shown = run_trova("webhooks", "show", message_id, env=env).stdout
        assert "500" in shown and "not now" in shown and "200" in shown and "2 attempt(s)" in shown
        redelivered = run_trova("webhooks", "redeliver", message_id, env=env)
        assert message_id in redelivered.stdout
        wait_for(lambda: len(hook.requests) == 3, what="the redelivery")
    assert orjson.loads(hook.requests[2].body) == orjson.loads(hook.requests[1].body)
    assert hook.requests[2].headers["webhook-id"] == message_id


def test_cli_errors_are_one_line_on_stderr(tmp_path: Path) -> None:
    env = _env(tmp_path, TROVA_WEBHOOK_ALLOW_HTTP="false")
    run_trova("accounts", "create", "acme", env=env)
    cases = [
        (("webhooks", "show", "msg_nope"), "No such webhook message: msg_nope"),
        (("webhooks", "redeliver", "msg_nope"), "No such webhook message: msg_nope"),
        (("webhooks", "list", "--account", "ghost"), "No such account: ghost"),
        (("accounts", "set-webhook", "acme", "http://hooks.example.com/h"), "Invalid webhook url"),
        (("accounts", "set-webhook", "acme"), "give either a URL or --none"),
        (("accounts", "set-webhook", "ghost", "--none"), "No such account: ghost"),
        (("accounts", "webhook-secret", "ghost"), "No such account: ghost"),
        (("accounts", "create", "b", "--webhook", "http://hooks.example.com/h"), "Invalid webhook url"),
    ]
    for args, text in cases:
        result = run_trova(*args, env=env, check=False)
        assert result.returncode == 1, args
        assert result.stderr.strip() == f"error: {text}", (args, result.stderr)


def test_set_webhook_and_secret_rotation_from_the_cli(tmp_path: Path) -> None:
    env = _env(tmp_path, TROVA_WEBHOOK_ALLOW_HTTP="false")
    run_trova("accounts", "create", "acme", env=env)
    assert "https://hooks.example.com/h" in run_trova("accounts", "set-webhook", "acme", "https://hooks.example.com/h", env=env).stdout
    assert "https://hooks.example.com/h" in run_trova("accounts", "list", env=env).stdout
    assert "no default webhook" in run_trova("accounts", "set-webhook", "acme", "--none", env=env).stdout
    first = run_trova("accounts", "webhook-secret", "acme", env=env).stdout.strip().splitlines()
    assert len(first) == 1 and first[0].startswith("whsec_")
    rotated = run_trova("accounts", "webhook-secret", "acme", "--rotate", env=env).stdout.strip().splitlines()
    assert rotated[-1].startswith("whsec_") and rotated[-1] != first[0]
    assert f"previous: {first[0]}" in rotated
