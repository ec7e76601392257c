from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from tests.support.databases import postgres_with_another_session
from trova.store import Database
from trova.store.migrate import at_head, current_revision, upgrade
from trova.store.tables import metadata


def test_migrations_run_from_empty_and_again(db_url: str) -> None:
    db = Database(db_url)
    upgrade(db)
    first = current_revision(db)
    upgrade(db)
    assert first is not None
    assert current_revision(db) == first
    db.dispose()


def test_migrations_match_the_tables(db: Database) -> None:
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_write_transactions_serialise_and_commit(db: Database) -> None:
    with db.write() as conn:
        conn.exec_driver_sql("CREATE TABLE scratch (n INTEGER)")
        conn.exec_driver_sql("INSERT INTO scratch VALUES (1)")
    with db.read() as conn:
        assert conn.exec_driver_sql("SELECT n FROM scratch").scalar_one() == 1


def test_the_heads_read_from_the_scripts_are_alembics(db_url: str) -> None:
    from alembic.script import ScriptDirectory

    from trova.store.migrate import alembic_config, at_head, head_revisions

    db = Database(db_url)
    try:
        assert head_revisions() == frozenset(ScriptDirectory.from_config(alembic_config(db_url)).get_heads())
        assert not at_head(db)
        upgrade(db)
        assert at_head(db)
        head = current_revision(db)
        assert head in head_revisions()
        with db.engine.begin() as conn:
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0001'")
        assert not at_head(db), "an older schema is migrated"
        with db.engine.begin() as conn:
            conn.exec_driver_sql(f"UPDATE alembic_version SET version_num = '{head}'")
        assert at_head(db)
    finally:
        db.dispose()


@pytest.mark.postgres
def test_a_start_waits_for_another_process_migrating_past_the_lock_timeout() -> None:
    with ThreadPoolExecutor(1) as pool, postgres_with_another_session(busy_timeout_s=0.2) as (db, migrating):
        migrating.exec_driver_sql("SELECT pg_advisory_xact_lock(7243001)")
        waiting = pool.submit(upgrade, db)
        with pytest.raises(FutureTimeout):
            waiting.result(timeout=1.0)
        migrating.rollback()
        waiting.result(timeout=120)
        assert at_head(db)
