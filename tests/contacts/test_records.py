"""What the store holds about whole people (``trova.contacts.records``), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.finder.builder import DEFAULT_DATE, StoreBuilder
from trova.contacts import lookups, records
from trova.contacts.records import PersonRecord
from trova.people.models import Observation
from trova.store import Database

MOBILE, MOBILE_2, TOLL_FREE = "+33612345678", "+33698765432", "+33800123456"


@pytest.fixture
def store(db: Database) -> StoreBuilder:
    return StoreBuilder(db)


def test_observations_of_returns_the_returnable_ones_and_all_observations_of_every_one(
    db: Database, store: StoreBuilder
) -> None:
    acme = store.company("Acme")
    later = DEFAULT_DATE + dt.timedelta(days=3)
    jane = store.person("Jane", "Doe", at=(acme,), phones=(MOBILE, TOLL_FREE, "n/a"))
    store.phone(jane, MOBILE_2, source="vendor", observed_at=later)
    nobody = store.person("John", "Roe", at=(acme,))
    with db.read() as conn:
        returnable = lookups.observations_of(conn, [jane, nobody])
        every = records.all_observations_of(conn, [jane, nobody])
    assert set(returnable) == {jane}
    assert sorted(returnable[jane], key=lambda o: o.e164 or "") == [
        Observation(MOBILE, True, "mobile", "FR", "crm", DEFAULT_DATE),
        Observation(MOBILE_2, True, "mobile", "FR", "vendor", later),
    ]
    assert sorted((o.e164 or "", o.raw, o.valid) for o in every[jane]) == [
        ("", "n/a", False),
        (MOBILE, MOBILE, True),
        (MOBILE_2, MOBILE_2, True),
        (TOLL_FREE, TOLL_FREE, True),
    ]
    assert nobody not in every


def test_describe_people_gathers_profile_names_and_companies(db: Database, store: StoreBuilder) -> None:
    acme = store.company("Acme", "Acme Industries", domains=("acme.com",))
    beta = store.company("Beta")
    jane = store.person("Jane", "Doe", at=(acme, beta), linkedin="linkedin.com/in/jane-doe")
    store.also_named(jane, "Janet", "Doe")
    loner = store.person()
    with db.read() as conn:
        described = records.describe_people(conn, [jane, loner, 10_000])
        assert records.describe_people(conn, []) == {}
    assert described == {
        jane: PersonRecord(
            person_id=jane,
            linkedin_key="jane-doe",
            names=(("jane", "doe"), ("janet", "doe")),
            company_ids=tuple(sorted((acme, beta))),
            company_names=("acme", "acme industries", "beta"),
            company_domains=("acme.com",),
        ),
        loner: PersonRecord(loner, None, (), (), (), ()),
    }
