"""``trova webhooks …`` and the accounts' webhook commands, run in-process on a real SQLite file."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.webhooks.conftest import fast_settings, new_account, queue, sender_running, settled
from tests.webhooks.receiver import Reply, receiver, wait_for
from trova.cli.main import run
from trova.settings import get_settings
from trova.store import Database
from trova.store.migrate import upgrade


@pytest.fixture
def sqlite_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """A migrated SQLite file that the CLI (reading settings from the environment) also uses."""
    url = f"sqlite:///{tmp_path / 'trova.db'}"
    monkeypatch.setenv("TROVA_DATABASE_URL", url)
    monkeypatch.setenv("TROVA_WEBHOOK_ALLOW_HTTP", "false")
    get_settings.cache_clear()
    db = Database(url)
    upgrade(db)
    yield db
    db.dispose()
    get_settings.cache_clear()


def trova(*args: str, code: int = 0) -> tuple[str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        exit_code = run(list(args))
    assert exit_code == code, (args, stdout.getvalue(), stderr.getvalue())
    return stdout.getvalue(), stderr.getvalue()


def test_list_show_and_redeliver(sqlite_db: Database) -> None:
    acme, _ = new_account(sqlite_db)
    other, _ = new_account(sqlite_db)
    with receiver([Reply(500, body=b"not now")]) as hook:
        message_id = queue(sqlite_db, acme, hook.url)
        failing = queue(sqlite_db, other, "https://127.0.0.1:9/h")
        settings = fast_settings(sqlite_db, webhook_allow_private=False)
        with sender_running(fast_settings(sqlite_db), sqlite_db):
            wait_for(lambda: settled(sqlite_db, message_id), what="delivery")
        with sender_running(settings, sqlite_db):
            wait_for(lambda: settled(sqlite_db, failing), what="failure")
        listed, _ = trova("webhooks", "list")
        assert message_id in listed and failing in listed and "2 message(s)" in listed
        acme_name = _name(sqlite_db, acme)
        mine, _ = trova("webhooks", "list", "--account", acme_name)
        assert message_id in mine and failing not in mine and "bulk_phone_search_finished" in mine
        failed, _ = trova("webhooks", "list", "--failed")
        assert failing in failed and message_id not in failed
        shown, _ = trova("webhooks", "show", message_id)
        assert "500" in shown and "not now" in shown and "200" in shown and "2 attempt(s)" in shown
        assert hook.url in shown and "delivered" in shown
        redelivered, _ = trova("webhooks", "redeliver", message_id)
        assert message_id in redelivered
        with sender_running(fast_settings(sqlite_db), sqlite_db):
            wait_for(lambda: len(hook.requests) == 3 and settled(sqlite_db, message_id), what="redelivery")
    assert hook.requests[2].headers["webhook-id"] == message_id
    assert "3 attempt(s)" in trova("webhooks", "show", message_id)[0]


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (("webhooks", "show", "msg_nope"), "No such webhook message: msg_nope"),
        (("webhooks", "redeliver", "msg_nope"), "No such webhook message: msg_nope"),
        (("webhooks", "list", "--account", "ghost"), "No such account: ghost"),
        (("accounts", "set-webhook", "acme", "http://hooks.example.com/h"), "Invalid webhook url"),
        (("accounts", "set-webhook", "acme", "hooks.example.com"), "Invalid webhook url"),
        (("accounts", "set-webhook", "acme"), "give either a URL or --none"),
        (
            ("accounts", "set-webhook", "acme", "https://h.example.com", "--none"),
            "give either a URL or --none",
        ),
        (("accounts", "set-webhook", "ghost", "--none"), "No such account: ghost"),
        (("accounts", "webhook-secret", "ghost"), "No such account: ghost"),
        (("accounts", "create", "b", "--webhook", "http://hooks.example.com/h"), "Invalid webhook url"),
    ],
)
def test_errors_are_one_line_on_stderr(sqlite_db: Database, args: tuple[str, ...], text: str) -> None:
    trova("accounts", "create", "acme")
    out, err = trova(*args, code=1)
    assert err.startswith(f"error: {text}") and err.count("\n") == 1 and out == ""
    if "http://" in " ".join(args):
        assert "needs https://" in err


def test_set_webhook_validates_like_the_api_and_can_be_removed(sqlite_db: Database) -> None:
    trova("accounts", "create", "acme")
    out, _ = trova("accounts", "set-webhook", "acme", "https://hooks.example.com/h")
    assert out == "acme: default webhook https://hooks.example.com/h\n"
    assert "https://hooks.example.com/h" in trova("accounts", "list")[0]
    assert trova("accounts", "set-webhook", "acme", "--none")[0] == "acme: no default webhook\n"
    assert "https://hooks.example.com/h" not in trova("accounts", "list")[0]


def test_the_secret_is_printed_alone_and_rotation_keeps_the_previous_one(sqlite_db: Database) -> None:
    trova("accounts", "create", "acme")
    first = trova("accounts", "webhook-secret", "acme")[0].splitlines()
    assert len(first) == 1 and first[0].startswith("whsec_")
    rotated = trova("accounts", "webhook-secret", "acme", "--rotate")[0].splitlines()
    assert rotated[-1].startswith("whsec_") and rotated[-1] != first[0]
    assert f"previous: {first[0]}" in rotated
    assert trova("accounts", "webhook-secret", "acme")[0].splitlines()[-1] == rotated[-1]


def _name(db: Database, account_id: int) -> str:
    from trova.accounts import repository as accounts_repo

    with db.read() as conn:
        account = accounts_repo.account_by_id(conn, account_id)
    assert account is not None
    return account.name
