"""The contact store's writes and import reads (``trova.contacts.repository``), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.finder.builder import StoreBuilder
from tests.support.statements import query_plan
from trova.contacts import lookups, records
from trova.contacts import repository as repo
from trova.contacts.lookups import NameMatch
from trova.store import Database, utcnow
from trova.store.tables import companies, people, phone_observations

MOBILE, MOBILE_2, FIXED = "+33612345678", "+33698765432", "+33142685300"


@pytest.fixture
def store(db: Database) -> StoreBuilder:
    return StoreBuilder(db)


def count(db: Database, table: sa.Table) -> int:
    with db.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_new_people_and_companies_get_ids_in_order_and_profiles_never_overwrite(db: Database) -> None:
    now = utcnow()
    with db.write() as conn:
        assert repo.store_is_empty(conn)
        first, second = repo.insert_people(conn, ["ada", None], now)
        (company,) = repo.insert_companies(conn, 1, now)
        repo.set_linkedin_keys(conn, {first: "other", second: "alan"}, now)
        repo.add_person_names(conn, [(second, "alan", "turing")] * 2)
        repo.add_person_companies(conn, [(second, company), (second, company)])
        repo.add_company_names(conn, [("bletchley", company)])
        repo.add_company_domains(conn, [("bletchley.uk", company)])
    with db.read() as conn:
        assert not repo.store_is_empty(conn)
        assert repo.people_created_at(conn, now) == 2
        assert lookups.people_by_linkedin(conn, ["ada", "alan", "other"]) == {"ada": first, "alan": second}
        assert repo.people_at_company(conn, company) == [NameMatch(second, "alan", "turing", company, "alan")]
        assert lookups.companies_by_domain(conn, ["bletchley.uk"]) == {"bletchley.uk": company}


def test_existing_dedupe_keys_and_holders_of_numbers(db: Database, store: StoreBuilder) -> None:
    jane = store.person("Jane", "Doe", phones=(MOBILE, FIXED))
    john = store.person("John", "Roe", phones=(FIXED,))
    with db.read() as conn:
        stored = set(conn.execute(sa.select(phone_observations.c.dedupe_key)).scalars())
        assert repo.existing_dedupe_keys(conn, [*stored, "unknown"]) == stored
        assert repo.holders_of_numbers(conn, [MOBILE, FIXED, MOBILE_2]) == {
            MOBILE: {jane},
            FIXED: {jane, john},
        }


def test_merge_person_moves_numbers_names_and_companies(db: Database, store: StoreBuilder) -> None:
    acme, beta = store.company("Acme"), store.company("Beta")
    survivor = store.person("Jane", "Doe", at=(acme,), phones=(MOBILE,))
    absorbed = store.person("Jane", "Doe", at=(acme, beta), phones=(MOBILE_2,))
    store.also_named(absorbed, "Janet", "Doe")
    with db.write() as conn:
        repo.merge_person(conn, survivor, absorbed)
    with db.read() as conn:
        record = records.describe_people(conn, [survivor, absorbed])
        held = lookups.observations_of(conn, [survivor])
    assert set(record) == {survivor}
    assert record[survivor].names == (("jane", "doe"), ("janet", "doe"))
    assert record[survivor].company_ids == tuple(sorted((acme, beta)))
    assert sorted(o.e164 or "" for o in held[survivor]) == [MOBILE, MOBILE_2]


def test_merge_company_moves_names_domains_and_people(db: Database, store: StoreBuilder) -> None:
    survivor = store.company("Acme", domains=("acme.com",))
    absorbed = store.company("Acme", "Acme Industries", domains=("acme.io",))
    jane = store.person("Jane", "Doe", at=(absorbed,))
    with db.write() as conn:
        repo.merge_company(conn, survivor, absorbed)
    with db.read() as conn:
        assert lookups.companies_by_name(conn, ["acme", "acme industries"]) == {
            "acme": {survivor},
            "acme industries": {survivor},
        }
        assert lookups.companies_by_domain(conn, ["acme.com", "acme.io"]) == {
            "acme.com": survivor,
            "acme.io": survivor,
        }
        assert repo.people_at_company(conn, survivor) == [NameMatch(jane, "jane", "doe", survivor, None)]
    assert count(db, companies) == 1


def test_erasure_deletes_people_and_numbers(db: Database, store: StoreBuilder) -> None:
    acme = store.company("Acme")
    jane = store.person("Jane", "Doe", at=(acme,), phones=(MOBILE, FIXED))
    john = store.person("John", "Roe", at=(acme,), phones=(FIXED, MOBILE_2))
    with db.write() as conn:
        assert repo.delete_people(conn, [jane, jane]) == (1, 2)
        assert repo.delete_observations_of_numbers(conn, [FIXED]) == 1
    assert count(db, people) == 1 and count(db, phone_observations) == 1
    with db.read() as conn:
        assert repo.people_at_company(conn, acme) == [NameMatch(john, "john", "roe", acme, None)]


def test_an_imported_chunk_seeks_the_names_it_looks_up_whatever_the_statistics_say(db: Database) -> None:
    """Statistics taken while a table is small (as during an import that fills it) make PostgreSQL
    hash the wanted names and read the whole table; a chunk's transaction seeks each name instead."""
    names = _people_named_at_one_company(db, 300)
    with db.write() as conn:
        conn.exec_driver_sql("ANALYZE")
    params = {
        name: value
        for i, (first, last) in enumerate(names)
        for name, value in ((f"f{i}", first), (f"l{i}", last))
    }
    statement = lookups._named_statement(len(names)).params(**params)
    sql = str(statement.compile(dialect=db.engine.dialect, compile_kwargs={"literal_binds": True}))
    with db.write() as conn:
        repo.prepare_bulk_writes(conn)
        plan = query_plan(conn, sql)
    steps = [step for step in plan if "person_names" in step]
    assert steps and all(("Index" in step or "USING" in step) for step in steps), plan


def _people_named_at_one_company(db: Database, size: int) -> list[tuple[str, str]]:
    now = utcnow()
    with db.write() as conn:
        ids = repo.insert_people(conn, [None] * size, now)
        (company,) = repo.insert_companies(conn, 1, now)
        repo.add_person_names(conn, [(pid, f"first{pid}", f"last{pid}") for pid in ids])
        repo.add_person_companies(conn, [(pid, company) for pid in ids])
    return [(f"first{pid}", f"last{pid}") for pid in ids]
