"""``trova --help`` loads no command: the heavy libraries are imported only by the command that runs.

The time this saves is measured, not asserted (README, "Startup"): ``python -X importtime``.
"""

from __future__ import annotations

import subprocess
import sys

PROBE = (
    "import sys\n"
    "from trova.cli.main import run\n"
    "code = run(sys.argv[1:])\n"
    "names = ('sqlalchemy', 'pydantic', 'rich', 'httpx', 'alembic', 'fastapi')\n"
    "heavy = sorted(m for m in names if m in sys.modules)\n"
    "print(' '.join(heavy) or '-', file=sys.stderr)\n"
)


def loaded_by(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120, check=True
    )
    return result.stderr.strip().splitlines()[-1]


def test_help_imports_no_heavy_library() -> None:
    assert loaded_by("--help") == "-"


def test_a_command_imports_only_what_it_uses() -> None:
    assert "fastapi" not in loaded_by("config", "--help")
    assert "sqlalchemy" not in loaded_by("find", "--help")
