"""``trova --help`` loads no command: the heavy libraries are imported only by the command that runs.

The time this saves is measured, not asserted (README, "Startup"): ``python -X importtime``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.servers import run_trova

PROBE = (
    "import sys\n"
    "from trova.cli.main import run\n"
    "code = run(sys.argv[1:])\n"
    "names = ('sqlalchemy', 'pydantic', 'rich', 'httpx', 'alembic', 'fastapi')\n"
    "heavy = sorted(m for m in names if m in sys.modules)\n"
    "print(' '.join(heavy) or '-', file=sys.stderr)\n"
)


def loaded_by(*args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120, check=True,
        env={**os.environ, **(env or {})},
    )
    return result.stderr.strip().splitlines()[-1]


def test_help_imports_no_heavy_library() -> None:
    assert loaded_by("--help") == "-"


def test_a_command_imports_only_what_it_uses() -> None:
    assert "fastapi" not in loaded_by("config", "--help")
    assert "sqlalchemy" not in loaded_by("find", "--help")


def test_a_database_command_on_a_current_schema_loads_neither_alembic_nor_the_http_stack(
    tmp_path: Path,
) -> None:
    env = {"TROVA_DATABASE_URL": f"sqlite:///{tmp_path / 'trova.db'}"}
    run_trova("migrate", env=env, cwd=tmp_path)
    loaded = loaded_by("accounts", "list", env=env).split()
    assert "sqlalchemy" in loaded, "the probe sees what the command loads"
    assert "alembic" not in loaded and "httpx" not in loaded and "fastapi" not in loaded
