"""``trova accounts …`` as a user runs it: a real subprocess on a real SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.servers import run_trova


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"TROVA_DATABASE_URL": f"sqlite:///{tmp_path / 'trova.db'}", "COLUMNS": "200"}


def test_create_prints_the_key_alone_on_the_last_line(env: dict[str, str]) -> None:
    result = run_trova("accounts", "create", "acme", "--credits", "500", "--paygo", "40", env=env)
    key = result.stdout.splitlines()[-1]
    assert key.startswith("trova_") and len(key) >= 48 and " " not in key
    listing = run_trova("accounts", "list", env=env).stdout
    assert "acme" in listing and "540" in listing and key[:12] in listing and key not in listing


def test_topup_rotate_and_ledger(env: dict[str, str]) -> None:
    first = run_trova("accounts", "create", "acme", "--credits", "100", env=env).stdout.splitlines()[-1]
    run_trova("accounts", "topup", "acme", "--credits", "5", "--paygo", "7", env=env)
    second = run_trova("accounts", "rotate-key", "acme", env=env).stdout.splitlines()[-1]
    assert second.startswith("trova_") and second != first
    ledger = run_trova("accounts", "ledger", "acme", env=env).stdout
    assert ledger.count("│ topup ") == 2
    assert "balance: 105 subscription + 7 pay-as-you-go = 112" in ledger


def test_phone_switches(env: dict[str, str]) -> None:
    run_trova("accounts", "create", "acme", env=env)
    assert "disabled" in run_trova("accounts", "disable-phone", "acme", env=env).stdout
    assert "disabled" in run_trova("accounts", "list", env=env).stdout
    assert "enabled" in run_trova("accounts", "enable-phone", "acme", env=env).stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("accounts", "topup", "ghost", "--credits", "1"), "error: No such account: ghost"),
        (("accounts", "rotate-key", "ghost"), "error: No such account: ghost"),
        (("accounts", "ledger", "ghost"), "error: No such account: ghost"),
        (("accounts", "disable-phone", "ghost"), "error: No such account: ghost"),
        (("accounts", "topup", "acme"), "error: nothing to add: give --credits and/or --paygo"),
        (("accounts", "create", "acme"), "error: An account with this name already exists"),
        (
            ("accounts", "create", "web", "--webhook", "http://insecure.example.com"),
            "error: Invalid webhook url: 'http://insecure.example.com'; a webhook URL needs https:// "
            "(TROVA_WEBHOOK_ALLOW_HTTP=true allows http://) and a public address "
            "(TROVA_WEBHOOK_ALLOW_PRIVATE=true allows others)",
        ),
    ],
)
def test_errors_are_one_line_on_stderr(env: dict[str, str], args: tuple[str, ...], message: str) -> None:
    run_trova("accounts", "create", "acme", env=env)
    result = run_trova(*args, env=env, check=False)
    assert result.returncode != 0
    assert result.stderr.strip() == message
    assert "Traceback" not in result.stderr


def test_negative_credits_are_refused(env: dict[str, str]) -> None:
    result = run_trova("accounts", "create", "acme", "--credits", "-5", env=env, check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr


def test_unreachable_database_is_one_line(tmp_path: Path) -> None:
    env = {"TROVA_DATABASE_URL": f"sqlite:///{tmp_path / 'missing-dir' / 'trova.db'}"}
    result = run_trova("accounts", "create", "acme", env=env, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("error: database error:") and len(result.stderr.strip().splitlines()) == 1
