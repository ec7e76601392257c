"""The suppression list's SQL, on both databases."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tests.privacy.support import SELECTORS, suppress
from tests.support.statements import query_plan
from trova.erasure.selectors import selector_from
from trova.privacy import repository as repo
from trova.store import Database


def test_the_kinds_listed_are_exactly_those_the_list_holds(db: Database) -> None:
    with db.read() as conn:
        assert repo.suppressed_kinds(conn) == frozenset()
    for name in ("phone", "name_domain"):
        suppress(db, **SELECTORS[name])
    expected = {
        subject.kind
        for name in ("phone", "name_domain")
        for subject in selector_from(**SELECTORS[name]).subjects()
    }
    with db.read() as conn:
        assert repo.suppressed_kinds(conn) == expected
    assert "linkedin" not in expected


def test_the_kinds_are_read_through_the_kind_index_not_the_whole_list(db: Database) -> None:
    statement, parameters = _kinds_statement(db)
    with db.read() as conn:
        if not db.is_sqlite:
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        plan = query_plan(conn, statement, parameters)
    touching = [step for step in plan if "suppressions" in step]
    assert touching and all("ix_suppressions_kind" in step for step in touching), plan


def _kinds_statement(db: Database) -> tuple[str, Any]:
    """The statement ``suppressed_kinds`` sends to the database, with its parameters."""
    sent: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        sent.append((statement, parameters))

    suppress(db, **SELECTORS["phone"])
    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        with db.read() as conn:
            repo.suppressed_kinds(conn)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    (found,) = [(sql, params) for sql, params in sent if "suppressions" in sql]
    return found
