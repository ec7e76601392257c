"""The help of every command reads cleanly: plain text, flags as flags, no stray markup."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from trova.cli.main import COMMANDS, load_command


def commands() -> Iterator[tuple[str, Any]]:
    for name in COMMANDS:
        command = load_command(name)
        assert command is not None, name
        yield name, command
        for sub_name, sub in getattr(command, "commands", {}).items():
            yield f"{name} {sub_name}", sub


@pytest.mark.parametrize(("path", "command"), list(commands()))
def test_help_reads_cleanly(path: str, command: Any) -> None:
    ctx = command.make_context(f"trova {path}", ["--help"], resilient_parsing=True)
    text = command.get_help(ctx)
    assert "`" not in text, text
    assert "<bool>" not in text and "╭" not in text, text
    assert "number's number" not in text, text
    assert " / --no-" not in text, text
    options = [line.split("  ")[1] for line in text.splitlines() if line.startswith("  -")]
    assert all("<" not in option and "{" not in option for option in options), text
    usage, arguments = text.splitlines()[0], argument_names(text)
    assert "{" not in usage and "<" not in usage, text
    assert all(name.isupper() and "<" not in name for name in arguments), text


def argument_names(text: str) -> list[str]:
    """The names in the help's Arguments section (each line's first column)."""
    section = text.split("Arguments:\n", 1)[1].split("\n\n", 1)[0] if "Arguments:\n" in text else ""
    lines = [line for line in section.splitlines() if line.startswith("  ") and not line.startswith("   ")]
    return [line.strip().split("  ")[0] for line in lines]
