"""``trova config`` (origins shown, secrets masked) and the database a command uses (no silent new file)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.servers import run_trova


def test_config_shows_each_setting_with_its_origin_and_masks_secrets(tmp_path: Path) -> None:
    (tmp_path / "trova.toml").write_text(
        'price_per_phone = 30\n[[sources]]\nname = "local"\nkind = "local"\n'
        '[[sources]]\nname = "vendor"\nkind = "enrow"\napi_key = "sk-very-secret"\n'
    )
    env = {"TROVA_DATABASE_URL": "postgresql://trova:hunter2@db.internal/trova", "TROVA_PORT": "9000"}
    shown = run_trova("config", "--json", env=env, cwd=tmp_path).stdout
    settings = json.loads(shown)
    assert settings["port"] == {"value": 9000, "origin": "environment (TROVA_PORT)"}
    assert settings["price_per_phone"] == {"value": 30, "origin": "file (trova.toml)"}
    assert settings["host"] == {"value": "127.0.0.1", "origin": "default"}
    assert settings["database_url"]["value"] == "postgresql://trova:****@db.internal/trova"
    assert settings["sources"]["value"][1] == {"name": "vendor", "kind": "enrow", "api_key": "****"}
    assert "hunter2" not in shown and "sk-very-secret" not in shown
    text = run_trova("config", env=env, cwd=tmp_path).stdout
    assert "TROVA_PRICE_PER_PHONE" in text and "30  [file (trova.toml)]" in text
    assert "hunter2" not in text and "sk-very-secret" not in text


def test_a_named_config_file_is_used(tmp_path: Path) -> None:
    named = tmp_path / "prod.toml"
    named.write_text("port = 8123\n")
    shown = json.loads(run_trova("config", "--json", env={"TROVA_CONFIG": str(named)}, cwd=tmp_path).stdout)
    assert shown["port"] == {"value": 8123, "origin": f"file ({named})"}


@pytest.mark.parametrize(
    "command",
    [
        ("accounts", "list"),
        ("accounts", "topup", "acme", "--credits", "1"),
        ("worker",),
        ("suppress", "list"),
        ("webhooks", "list"),
        ("sources", "stats"),
        ("import", "contacts.csv"),
        ("explain", "--linkedin", "https://www.linkedin.com/in/ada"),
        ("audit", "--account", "acme"),
    ],
)
def test_a_command_against_a_missing_database_says_which_and_creates_nothing(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    (tmp_path / "contacts.csv").write_text("linkedin_url,phone\nlinkedin.com/in/ada,+15705551234\n")
    result = run_trova(*command, env={}, cwd=tmp_path, check=False)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        f"error: no database at {tmp_path / 'trova.db'} (TROVA_DATABASE_URL=sqlite:///./trova.db); "
        "run the command where the database is, point TROVA_DATABASE_URL (or database_url in trova.toml) "
        "at it, or create one with 'trova migrate'"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["contacts.csv"]


@pytest.mark.parametrize("command", [("migrate",), ("accounts", "create", "acme")])
def test_migrate_and_accounts_create_may_create_the_database(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    run_trova(*command, env={}, cwd=tmp_path)
    assert (tmp_path / "trova.db").exists()
    assert "acme" in run_trova("accounts", "list", env={}, cwd=tmp_path).stdout or command == ("migrate",)
