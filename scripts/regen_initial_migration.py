"""Regenerate the initial migration from ``store/tables.py`` (only while no release has shipped).

Run: .venv/bin/python scripts/regen_initial_migration.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from alembic import command

from trova.store.migrate import MIGRATIONS_DIR, alembic_config

versions = MIGRATIONS_DIR / "versions"
for old in versions.glob("0001_*.py"):
    old.unlink()
with tempfile.TemporaryDirectory() as tmp:
    url = f"sqlite:///{Path(tmp) / 'empty.db'}"
    command.revision(
        alembic_config(url), message="initial schema", autogenerate=True, rev_id="0001", head="base"
    )
print("written:", *sorted(p.name for p in versions.glob("0001_*.py")))
