from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import pytest
import sqlalchemy as sa
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


def test_audit_links_written_before_the_subject_keys_revision_are_found_after_it_and_downgraded(
    db_url: str,
) -> None:
    from alembic import command

    from trova.accounts.service import create_account
    from trova.privacy.models import linkedin_subject, phone_subject
    from trova.privacy.repository import audit_ids_of
    from trova.store import utcnow
    from trova.store.migrate import alembic_config
    from trova.store.tables import audit_events

    config = alembic_config(db_url)
    command.upgrade(config, "i13c")
    db = Database(db_url)
    number, profile, elsewhere = (
        phone_subject("+15705551234").digest,
        linkedin_subject("ada-lovelace").digest,
        phone_subject("+15705550000").digest,
    )
    try:
        with db.write() as conn:
            account = create_account(conn, "audited").account.id
            for audit_id in (1, 2):
                conn.execute(
                    sa.insert(audit_events).values(id=audit_id, account_id=account, created_at=utcnow())
                )
            links = [(1, number), (1, profile), (2, elsewhere)]
            conn.exec_driver_sql(
                "INSERT INTO audit_subjects (audit_id, key_hash) VALUES (%s, %s), (%s, %s), (%s, %s)"
                if db.dialect == "postgresql"
                else "INSERT INTO audit_subjects (audit_id, key_hash) VALUES (?, ?), (?, ?), (?, ?)",
                tuple(value for link in links for value in link),
            )
        command.upgrade(config, "head")
        with db.read() as conn:
            assert audit_ids_of(conn, digests=[profile]) == {1}
            assert audit_ids_of(conn, digests=[number, elsewhere]) == {1, 2}
            assert audit_ids_of(conn, digests=[phone_subject("+15705559999").digest]) == set()
            if db.is_sqlite:
                schema = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'audit_subjects'")
                assert "WITHOUT ROWID" in schema.scalar_one()
        command.downgrade(config, "i13c")
        with db.read() as conn:
            restored = conn.exec_driver_sql("SELECT audit_id, key_hash FROM audit_subjects").all()
        assert sorted(tuple(row) for row in restored) == sorted(links)
        command.upgrade(config, "head")
        assert at_head(db)
    finally:
        db.dispose()
