"""The contact store's batched reads (``trova.contacts.lookups``), on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.finder.builder import StoreBuilder
from trova.contacts import lookups
from trova.contacts.lookups import NameMatch
from trova.store import Database, utcnow
from trova.store.migrate import upgrade
from trova.store.sql import SLICE_SIZES
from trova.store.tables import people

MOBILE, MOBILE_2, FIXED, TOLL_FREE = "+33612345678", "+33698765432", "+33142685300", "+33800123456"


@pytest.fixture
def store(db: Database) -> StoreBuilder:
    return StoreBuilder(db)


def test_people_by_linkedin_maps_the_known_profiles_only(db: Database, store: StoreBuilder) -> None:
    ada = store.person(linkedin="https://www.linkedin.com/in/ada-lovelace")
    store.person("Alan", "Turing")
    with db.read() as conn:
        found = lookups.people_by_linkedin(conn, ["ada-lovelace", "nobody", "ada-lovelace"])
        assert found == {"ada-lovelace": ada}
        assert lookups.people_by_linkedin(conn, []) == {}


def test_people_by_linkedin_across_several_padded_slices(db: Database) -> None:
    """More keys than the largest statement size: every slice, padded or not, finds its keys."""
    count = SLICE_SIZES[-1] + SLICE_SIZES[0] + 3
    now = utcnow()
    with db.write() as conn:
        conn.execute(
            sa.insert(people),
            [{"linkedin_key": f"p{i}", "created_at": now, "updated_at": now} for i in range(count)],
        )
        ids = dict(conn.execute(sa.select(people.c.linkedin_key, people.c.id)).all())
    with db.read() as conn:
        found = lookups.people_by_linkedin(conn, [f"p{i}" for i in range(count)] + ["absent"])
    assert found == ids and len(found) == count


def test_companies_by_domain_name_and_with_domain(db: Database, store: StoreBuilder) -> None:
    acme_com = store.company("Acme", domains=("https://www.acme.com",))
    acme_name_only = store.company("Acme Inc.")
    beta = store.company("Beta", domains=("beta.co.uk", "beta.io"))
    with db.read() as conn:
        assert lookups.companies_by_domain(conn, ["acme.com", "beta.io", "beta.co.uk", "gamma.de"]) == {
            "acme.com": acme_com,
            "beta.io": beta,
            "beta.co.uk": beta,
        }
        assert lookups.companies_by_name(conn, ["acme", "beta", "gamma"]) == {
            "acme": {acme_com, acme_name_only},
            "beta": {beta},
        }
        assert lookups.companies_with_domain(conn, [acme_com, acme_name_only, beta]) == {acme_com, beta}
        assert lookups.companies_with_domain(conn, []) == set()


def test_people_named_at_fetches_only_the_wanted_companies(db: Database, store: StoreBuilder) -> None:
    acme, beta, gamma = store.company("Acme"), store.company("Beta"), store.company("Gamma")
    jane = store.person("Jane", "Doe", at=(acme, beta), linkedin="linkedin.com/in/jane-doe")
    other_jane = store.person("Jane", "Doe", at=(gamma,))
    john = store.person("John", "Roe", at=(acme,))
    with db.read() as conn:
        found = lookups.people_named_at(
            conn, [("jane", "doe", acme), ("jane", "doe", beta), ("john", "roe", beta), ("jane", "doe", acme)]
        )
        assert sorted(found, key=lambda match: match.company_id) == [
            NameMatch(jane, "jane", "doe", acme, "jane-doe"),
            NameMatch(jane, "jane", "doe", beta, "jane-doe"),
        ]
        assert {m.person_id for m in lookups.people_named_at(conn, [("jane", "doe", gamma)])} == {other_jane}
        assert {m.person_id for m in lookups.people_named_at(conn, [("john", "roe", acme)])} == {john}


def test_people_named_at_any_company_or_only_at_some(db: Database, store: StoreBuilder) -> None:
    acme, beta = store.company("Acme"), store.company("Beta")
    jane = store.person("Jane", "Doe", at=(acme,))
    other_jane = store.person("Jane", "Doe", at=(beta,))
    store.also_named(other_jane, "Janet", "Doe")
    store.person("Jane", "Doe")  # at no company: nobody finds her by names
    with db.read() as conn:
        everywhere = lookups.people_named(conn, [("jane", "doe"), ("janet", "doe"), ("jane", "doe")])
        assert sorted(everywhere, key=lambda m: (m.person_id, m.first_key)) == [
            NameMatch(jane, "jane", "doe", acme, None),
            NameMatch(other_jane, "jane", "doe", beta, None),
            NameMatch(other_jane, "janet", "doe", beta, None),
        ]
        at_beta = lookups.people_named(conn, [("jane", "doe")], at={beta})
        assert at_beta == [NameMatch(other_jane, "jane", "doe", beta, None)]
        assert lookups.people_named(conn, [("jane", "doe")], at=set()) == []


def test_shared_numbers_are_those_held_for_more_than_one_person(db: Database, store: StoreBuilder) -> None:
    acme = store.company("Acme")
    jane = store.person("Jane", "Doe", at=(acme,), phones=(FIXED, MOBILE))
    store.phone(jane, FIXED, source="other")
    store.person("John", "Roe", at=(acme,), phones=(FIXED,))
    store.person("Ann", "Lee", at=(acme,), phones=(MOBILE_2,))
    with db.read() as conn:
        assert lookups.shared_numbers(conn, {FIXED, MOBILE, MOBILE_2, "+33100000000"}) == {FIXED}
        assert lookups.shared_numbers(conn, set()) == set()


def test_observations_of_an_owner_include_its_weak_groups_under_its_id(
    db: Database, store: StoreBuilder
) -> None:
    acme = store.company("Acme")
    jane = store.person(
        "Jane", "Doe", at=(acme,), linkedin="https://www.linkedin.com/in/jane-doe", phones=(MOBILE,)
    )
    group = store.person("Jane", "Doe", at=(acme,), phones=(MOBILE_2, TOLL_FREE))
    other_group = store.person("Jane", "Doe", at=(acme,), phones=(FIXED,))
    with db.write() as conn:
        conn.execute(sa.update(people).where(people.c.id == group).values(owner_id=jane))
    with db.read() as conn:
        found = lookups.observations_of(conn, [jane])
    assert set(found) == {jane}
    assert sorted(o.e164 or "" for o in found[jane]) == [MOBILE, MOBILE_2]
    assert other_group not in found


def test_observations_of_reads_through_indexes_when_most_people_own_nothing(tmp_path: Path) -> None:
    """With ``owner_id`` NULL almost everywhere, SQLite's statistics make the owner index look
    useless; the weak groups must still be reached through it, never by scanning the observations."""
    db = Database(f"sqlite:///{tmp_path / 'plan.db'}")
    upgrade(db)
    store = StoreBuilder(db)
    acme = store.company("Acme")
    for i in range(200):
        store.person("Jane", f"Doe{i}", at=(acme,), phones=(f"+336{i:08d}",))
    with db.write() as conn:
        conn.exec_driver_sql("ANALYZE")
    statement = str(lookups._observations_statement(2).compile(dialect=db.engine.dialect))
    with db.read() as conn:
        plan = [row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", (1, 2, 1, 2))]
    assert any("USING INDEX ix_phone_observations_person_id" in step for step in plan)
    assert not [step for step in plan if step.startswith("SCAN")], plan
    db.dispose()
