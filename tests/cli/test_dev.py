"""``./dev``, the newcomer's entry point: a clean usage, and a way to run ``trova`` without activating."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

DEV = Path(__file__).resolve().parents[2] / "dev"


def dev(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(DEV), *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("args", [(), ("help",), ("--help",)])
def test_dev_without_a_command_prints_a_clean_usage(args: tuple[str, ...]) -> None:
    result = dev(*args)
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.startswith("usage: ./dev COMMAND [ARGS]\n")
    assert "./dev trova accounts list" in result.stdout
    assert not any(line.lstrip().startswith("#") for line in result.stdout.splitlines())


def test_an_unknown_command_is_usage_on_stderr_and_exit_2() -> None:
    result = dev("srve")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("./dev: unknown command 'srve'\nusage: ./dev COMMAND [ARGS]")


def test_every_command_the_readme_runs_through_dev_exists() -> None:
    readme = (DEV.parent / "README.md").read_text()
    commands = {line.split()[1] for line in readme.splitlines() if line.startswith("./dev ")}
    usage = dev().stdout
    assert commands and all(f"  {command} " in usage for command in commands), commands
