"""Every command fails with one line, ``error: …``: exit 2 for usage and configuration, 1 at run time."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.servers import run_trova


def one_line(stderr: str) -> str:
    assert "Traceback" not in stderr and "╭" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    return lines[0]


@pytest.fixture
def leads(tmp_path: Path) -> Path:
    path = tmp_path / "leads.csv"
    path.write_text("First Name,Last Name,Company\nAda,Lovelace,Acme\n")
    return path


@pytest.mark.parametrize(
    ("env", "wanted"),
    [
        ({"TROVA_PRICE_PER_PHONE": "abc"}, "error: TROVA_PRICE_PER_PHONE='abc': Input should be a valid"),
        ({"TROVA_DATABASE_URL": "mysql://u@h/db"}, "error: TROVA_DATABASE_URL: only sqlite:///PATH and post"),
        ({"TROVA_WEBHOOK_RETRY_SCHEDULE_S": "5,soon"}, "error: TROVA_WEBHOOK_RETRY_SCHEDULE_S='5,soon': exp"),
        ({"TROVA_CONFIG": "/nonexistent.toml"}, "error: TROVA_CONFIG names /nonexistent.toml, which does"),
    ],
)
@pytest.mark.parametrize("command", [("accounts", "list"), ("migrate",), ("import", "x.csv"), ("config",)])
def test_a_bad_setting_is_one_line_naming_it_and_exit_2(
    tmp_path: Path, env: dict[str, str], wanted: str, command: tuple[str, ...]
) -> None:
    result = run_trova(*command, env=env, cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert one_line(result.stderr).startswith(wanted)
    assert list(tmp_path.iterdir()) == []


def test_a_config_file_that_does_not_parse_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "trova.toml").write_text("price_per_phone = \n")
    result = run_trova("accounts", "list", env={}, cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert one_line(result.stderr).startswith("error: trova.toml is not valid TOML: Invalid value (at line 1")


def test_a_bad_value_in_the_config_file_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "trova.toml").write_text("port = 'eighty'\n")
    result = run_trova("config", env={}, cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert one_line(result.stderr).startswith("error: port in trova.toml='eighty': Input should be a valid")


@pytest.mark.parametrize(
    ("extra", "wanted"),
    [
        (("--encoding", "bogus"), "error: --encoding 'bogus': unknown encoding (e.g. utf-8"),
        (("--map", "Company"), "error: --map 'Company': expected COLUMN=FIELD"),
        (("--map", "Company=phone"), "error: --map 'Company=phone': unknown field 'phone' (fields: linkedin"),
        (("--batch-size", "5000"), "error: --batch-size 5000: must be between 1 and 3000"),
        (("--dry-run", "true"), "error: unexpected value 'true': flags such as --dry-run take no value"),
        (("--nope",), "error: No such option: --nope (see 'trova bulk --help')"),
        (("--max-in-flight", "0"), "error: Invalid value for '--max-in-flight': Input should be greater"),
    ],
)
def test_bulk_usage_errors_are_one_line_and_exit_2(
    tmp_path: Path, leads: Path, extra: tuple[str, ...], wanted: str
) -> None:
    output = tmp_path / "out.csv"
    result = run_trova("bulk", str(leads), "-o", str(output), "--dry-run", *extra, env={}, check=False)
    assert result.returncode == 2
    assert one_line(result.stderr).startswith(wanted)
    assert not output.exists()


def test_an_unknown_command_is_one_line() -> None:
    result = run_trova("acounts", env={}, check=False)
    assert result.returncode == 2
    assert one_line(result.stderr) == "error: No such command 'acounts'. (see 'trova --help')"


def test_a_missing_option_value_is_one_line(tmp_path: Path, leads: Path) -> None:
    result = run_trova("bulk", str(leads), env={}, check=False)
    assert result.returncode == 2
    assert one_line(result.stderr).startswith("error: Missing option '--output' / '-o'.")


def test_help_reads_flags_as_flags_and_names_no_types() -> None:
    help_text = run_trova("bulk", "--help", env={}).stdout
    assert "--dry-run  " in help_text or "--dry-run\n" in help_text
    assert "<bool>" not in help_text and "╭" not in help_text
    top = run_trova("--help", env={}).stdout
    assert "`" not in top and "a person's or a number's number" not in top
    assert "bulk" in top and "config" in top and "batches" in top


def test_a_runtime_failure_is_exit_1(tmp_path: Path, leads: Path) -> None:
    missing, output = str(tmp_path / "missing.csv"), str(tmp_path / "o.csv")
    result = run_trova("bulk", missing, "-o", output, env={}, check=False)
    assert result.returncode == 1
    assert one_line(result.stderr) == f"error: {tmp_path / 'missing.csv'}: no such file"


def test_mcp_says_its_errors_like_every_command(tmp_path: Path) -> None:
    result = run_trova("mcp", env={"TROVA_API_KEY": ""}, cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert one_line(result.stderr).startswith("error: no API key")
