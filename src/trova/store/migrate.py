"""Applying the Alembic migrations, on start and by ``trova migrate``.

Alembic itself (and the parsing of every migration script) is loaded only when there is something
to do: a database already at the newest revision is told by one read of ``alembic_version``
against the head found by reading the ``revision``/``down_revision`` lines of the scripts, which
keeps the start of every command that opens the database quick.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from trova.store.engine import Database

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_REVISION_LINE = re.compile(r"^(revision|down_revision)\s*(?::[^=]*)?=\s*(.+)$", re.MULTILINE)
_QUOTED = re.compile(r"""['"]([^'"]+)['"]""")
_VERSIONS = sa.table("alembic_version", sa.column("version_num", sa.String))


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


@lru_cache(maxsize=1)
def head_revisions() -> frozenset[str]:
    """The revisions no script builds on, read from the scripts' own ``revision`` lines."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (MIGRATIONS_DIR / "versions").glob("*.py"):
        for name, value in _REVISION_LINE.findall(script.read_text(encoding="utf-8")):
            found = _QUOTED.findall(value)
            (revisions if name == "revision" else parents).update(found)
    return frozenset(revisions - parents)


def at_head(db: Database) -> bool:
    """The database's recorded revisions are exactly the scripts' heads (False without a schema)."""
    try:
        with db.engine.connect() as conn:
            recorded = {str(row[0]) for row in conn.execute(sa.select(_VERSIONS.c.version_num))}
    except sa.exc.DBAPIError:
        return False
    return bool(recorded) and recorded == head_revisions()


def upgrade(db: Database) -> None:
    """Bring the database to the newest schema; a no-op when it is already there.

    On PostgreSQL an advisory lock makes concurrent starts of many processes safe: one migrates,
    the others wait and then find nothing to do. They wait as long as that takes (no
    ``lock_timeout`` here, unlike every other transaction): a start that gave up would fail, not
    retry.
    """
    if at_head(db):
        return
    from alembic import command

    config = alembic_config(db.url)
    with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            conn.exec_driver_sql("SET LOCAL lock_timeout = 0")
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7243001)")
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def current_revision(db: Database) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
