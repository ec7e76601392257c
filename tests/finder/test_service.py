"""docs/finder.md §2-§3 and §5 end to end through ``Finder.resolve_many``, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from tests.finder.builder import DEFAULT_DATE, StoreBuilder
from tests.support.statements import statements_sent
from trova.contacts import lookups
from trova.erasure import service as erasure
from trova.erasure.selectors import selector_from
from trova.finder.service import Finder, identify_many
from trova.people.models import Answer, Search
from trova.people.normalise import search_from_params
from trova.settings import Settings
from trova.store import Database, utcnow
from trova.store.tables import people, phone_observations

MOBILE, MOBILE_2, FIXED, TOLL_FREE = "+33612345678", "+33698765432", "+33142685300", "+33800123456"


@pytest.fixture
def store(db: Database) -> StoreBuilder:
    return StoreBuilder(db)


def find(db: Database, **params: object) -> Answer:
    return Finder(db).resolve_many([search_from_params(params)])[0]


def test_linkedin_profile_wins_whatever_the_names(db: Database, store: StoreBuilder) -> None:
    acme = store.company("Acme", domains=("acme.com",))
    owner = store.person("Jane", "Doe", at=(acme,), linkedin="linkedin.com/in/jane-doe", phones=(MOBILE,))
    store.person("John", "Roe", at=(acme,), phones=(MOBILE_2,))
    answer = find(
        db,
        linkedin_url="https://fr.linkedin.com/in/Jane-Doe/",
        firstname="John",
        lastname="Roe",
        company_domain="acme.com",
    )
    assert (answer.number, answer.person_key, answer.reason) == (MOBILE, f"p:{owner}", "linkedin")
    assert (answer.country, answer.line_type, answer.sources, answer.last_seen) == (
        "FR",
        "mobile",
        ("crm",),
        DEFAULT_DATE.date(),
    )


def test_known_profile_without_usable_number_does_not_fall_back(db: Database, store: StoreBuilder) -> None:
    acme = store.company("Acme")
    store.person("Jane", "Doe", at=(acme,), linkedin="linkedin.com/in/jane-doe", phones=(TOLL_FREE,))
    store.person("Jane", "Doe", at=(acme,), phones=(MOBILE,))
    answer = find(
        db, linkedin_url="linkedin.com/in/jane-doe", firstname="Jane", lastname="Doe", company_name="Acme"
    )
    assert (answer.number, answer.reason) == (None, "no_valid_number")
    assert answer.person_key is not None and not answer.found


def test_names_and_company_name_or_domain(db: Database, store: StoreBuilder) -> None:
    acme = store.company("Acme Corp.", domains=("https://www.acme.co.uk",))
    jp = store.person("Jean-Pierre", "Dupont", at=(acme,), phones=("06 12 34 56 78",), country="FR")
    for params in (
        {"firstname": "jean pierre", "lastname": "DUPONT", "company_name": "ACME Ltd"},
        {"first_name": "Jean Pierre", "last_name": "dupont", "company_domain": "careers.acme.co.uk/jobs"},
        {"fullname": "Jean-Pierre Dupont", "company_name": "Acme, Inc."},
    ):
        answer = find(db, **params)
        assert (answer.number, answer.person_key, answer.reason) == (MOBILE, f"p:{jp}", "name_company"), (
            params
        )


def test_company_is_known_by_every_name_and_domain(db: Database, store: StoreBuilder) -> None:
    acme = store.company("Acme", "Acme Group", domains=("acme.com", "acme.fr"))
    store.person("Élodie", "Martin", at=(acme,), phones=(MOBILE,))
    assert find(db, firstname="Elodie", lastname="Martin", company_domain="acme.fr").number == MOBILE
    assert find(db, firstname="ELODIE", lastname="MARTIN", company_name="Acme Group SAS").number == MOBILE


def test_accents_multi_word_first_names_and_full_name_splits(db: Database, store: StoreBuilder) -> None:
    acme = store.company("Acme", domains=("acme.com.br",))
    store.person("Maria Júlia", "da Silva", at=(acme,), phones=(MOBILE,))
    assert (
        find(db, firstname="Maria Julia", lastname="Da Silva", company_domain="acme.com.br").number == MOBILE
    )
    assert find(db, fullname="MARIA JÚLIA DA SILVA", company_domain="www.acme.com.br").number == MOBILE
    assert find(db, firstname="Maria", lastname="Júlia da Silva", company_domain="acme.com.br").number is None


def test_full_name_matching_two_people_by_different_cuts_is_ambiguous(
    db: Database, store: StoreBuilder
) -> None:
    acme = store.company("Acme")
    store.person("Anna Maria", "Rossi", at=(acme,), phones=(MOBILE,))
    store.person("Anna", "Maria Rossi", at=(acme,), phones=(MOBILE_2,))
    answer = find(db, fullname="Anna Maria Rossi", company_name="Acme")
    assert (answer.number, answer.reason) == (None, "ambiguous")


def test_no_edit_distance_matching(db: Database, store: StoreBuilder) -> None:
    acme = store.company("Acme")
    store.person("Dagobert", "Duck", at=(acme,), phones=(MOBILE,))
    answer = find(db, firstname="Dagoberta", lastname="Duck", company_name="Acme")
    assert (answer.number, answer.person_key, answer.reason) == (None, None, "no_person")


def test_namesakes_at_one_company_are_ambiguous(db: Database, store: StoreBuilder) -> None:
    acme = store.company("Acme")
    store.person("John", "Smith", at=(acme,), phones=(MOBILE,))
    store.person("John", "Smith", at=(acme,), phones=(MOBILE_2,))
    answer = find(db, firstname="John", lastname="Smith", company_name="Acme")
    assert (answer.number, answer.person_key, answer.reason) == (None, None, "ambiguous")


def test_namesakes_at_other_companies_do_not_count(db: Database, store: StoreBuilder) -> None:
    acme, globex = store.company("Acme"), store.company("Globex")
    store.person("John", "Smith", at=(acme,), phones=(MOBILE,))
    store.person("John", "Smith", at=(globex,), phones=(MOBILE_2,))
    assert find(db, firstname="John", lastname="Smith", company_name="Acme").number == MOBILE
    assert find(db, firstname="John", lastname="Smith", company_name="Globex").number == MOBILE_2


def test_real_name_at_the_wrong_or_unknown_company(db: Database, store: StoreBuilder) -> None:
    acme = store.company("Acme", domains=("acme.com",))
    store.company("Globex", domains=("globex.com",))
    store.person("John", "Smith", at=(acme,), phones=(MOBILE,))
    for params in (
        {"company_name": "Globex"},
        {"company_domain": "globex.com"},
        {"company_name": "Initech"},
        {"company_domain": "unknown.io"},
    ):
        answer = find(db, firstname="John", lastname="Smith", **params)
        assert (answer.number, answer.reason) == (None, "no_person"), params


def test_known_domain_is_not_widened_by_a_shared_company_name(db: Database, store: StoreBuilder) -> None:
    acme_us = store.company("Acme", domains=("acme.com",))
    acme_de = store.company("Acme", domains=("acme.de",))
    store.person("John", "Smith", at=(acme_de,), phones=(MOBILE,))
    store.person("Jane", "Smith", at=(acme_us,), phones=(MOBILE_2,))
    assert (
        find(db, firstname="John", lastname="Smith", company_domain="acme.com", company_name="Acme").number
        is None
    )
    assert (
        find(db, firstname="John", lastname="Smith", company_domain="acme.io", company_name="Acme").number
        == MOBILE
    )
    assert find(db, firstname="Jane", lastname="Smith", company_name="Acme").number == MOBILE_2


def test_unknown_profile_falls_back_to_names_of_a_person_without_profile(
    db: Database, store: StoreBuilder
) -> None:
    acme = store.company("Acme")
    store.person("Jane", "Doe", at=(acme,), phones=(MOBILE,))
    answer = find(
        db, linkedin_url="linkedin.com/in/jane-doe-42", firstname="Jane", lastname="Doe", company_name="Acme"
    )
    assert (answer.number, answer.reason) == (MOBILE, "name_company")


def test_unknown_profile_never_reaches_a_person_with_another_profile(
    db: Database, store: StoreBuilder
) -> None:
    acme = store.company("Acme")
    store.person("Jane", "Doe", at=(acme,), linkedin="linkedin.com/in/jane-doe-1", phones=(MOBILE,))
    answer = find(
        db, linkedin_url="linkedin.com/in/jane-doe-2", firstname="Jane", lastname="Doe", company_name="Acme"
    )
    assert (answer.number, answer.person_key, answer.reason) == (None, None, "linkedin_conflict")
    assert find(db, firstname="Jane", lastname="Doe", company_name="Acme").number == MOBILE


def test_unknown_profile_alone_is_not_found(db: Database, store: StoreBuilder) -> None:
    store.person("Jane", "Doe", linkedin="linkedin.com/in/jane-doe", phones=(MOBILE,))
    answer = find(db, linkedin_url="linkedin.com/in/someone-else")
    assert (answer.number, answer.reason) == (None, "no_person")


def test_only_invalid_or_toll_free_numbers_is_not_found(db: Database, store: StoreBuilder) -> None:
    acme = store.company("Acme")
    person = store.person("Jane", "Doe", at=(acme,), phones=(TOLL_FREE, "+33 6 12", "n/a", "+33891123456"))
    answer = find(db, firstname="Jane", lastname="Doe", company_name="Acme")
    assert (answer.number, answer.person_key, answer.reason) == (None, f"p:{person}", "no_valid_number")


def test_switchboard_shared_by_colleagues_ranks_below_a_personal_line(
    db: Database, store: StoreBuilder
) -> None:
    acme = store.company("Acme")
    newer = DEFAULT_DATE + dt.timedelta(days=30)
    jane = store.person("Jane", "Doe", at=(acme,), phones=(FIXED,), observed_at=newer)
    store.phone(jane, FIXED, source="other", observed_at=newer)
    store.phone(jane, "+33 1 42 68 53 01")
    store.person("John", "Roe", at=(acme,), phones=(FIXED,))
    lone = store.person("Ann", "Lee", at=(acme,), phones=(FIXED,))
    assert find(db, firstname="Jane", lastname="Doe", company_name="Acme").number == "+33142685301"
    assert find(db, firstname="Ann", lastname="Lee", company_name="Acme").number == FIXED
    with db.read() as conn:
        assert lookups.shared_numbers(conn, {FIXED, "+33142685301", MOBILE}) == {FIXED}
    assert lone


def test_corroborated_then_newest_number(db: Database, store: StoreBuilder) -> None:
    acme = store.company("Acme")
    person = store.person("Jane", "Doe", at=(acme,), phones=(MOBILE,), source="a")
    store.phone(person, MOBILE, source="b", observed_at=DEFAULT_DATE - dt.timedelta(days=400))
    store.phone(person, MOBILE_2, source="c", observed_at=DEFAULT_DATE + dt.timedelta(days=100))
    answer = find(db, firstname="Jane", lastname="Doe", company_name="Acme")
    assert (answer.number, answer.sources, answer.last_seen) == (MOBILE, ("a", "b"), DEFAULT_DATE.date())
    store.phone(person, MOBILE_2, source="d")
    assert find(db, firstname="Jane", lastname="Doe", company_name="Acme").number == MOBILE_2


def test_batch_answers_in_order_and_resolves_copies_once(db: Database, store: StoreBuilder) -> None:
    acme = store.company("Acme", domains=("acme.com",))
    jane = store.person("Jane", "Doe", at=(acme,), linkedin="linkedin.com/in/jane", phones=(MOBILE,))
    searches = [
        search_from_params({"linkedin_url": "linkedin.com/in/jane"}),
        search_from_params({"firstname": "Nobody", "lastname": "Here", "company_name": "Acme"}),
        search_from_params({"firstname": "Jane", "lastname": "Doe", "company_domain": "www.acme.com"}),
        search_from_params({"linkedin_url": "https://www.linkedin.com/in/JANE/"}),
    ]
    answers = Finder(db).resolve_many(searches)
    assert [a.number for a in answers] == [MOBILE, None, MOBILE, MOBILE]
    assert [a.person_key for a in answers] == [f"p:{jane}", None, f"p:{jane}", f"p:{jane}"]
    assert answers[0] is answers[3]
    assert Finder(db).resolve_many([]) == []


def test_large_batch_spans_several_query_slices(db: Database, store: StoreBuilder) -> None:
    acme = store.company("Acme")
    people = [store.person(f"First{i}", f"Last{i}", at=(acme,)) for i in range(3)]
    rows = [
        {
            "person_id": pid,
            "e164": f"+3361234567{i}",
            "valid": True,
            "line_type": "mobile",
            "region": "FR",
            "raw": "x",
            "source": "s",
            "observed_at": DEFAULT_DATE,
            "imported_at": DEFAULT_DATE,
            "dedupe_key": f"k{i}",
        }
        for i, pid in enumerate(people)
    ]
    with db.write() as conn:
        conn.execute(sa.insert(phone_observations), rows)
    searches = [
        Search(first_key=f"first{i % 1300}", last_key=f"last{i % 1300}", company_key="acme")
        for i in range(2600)
    ]
    searches += [Search(linkedin_key=f"nobody-{i}") for i in range(1200)]
    answers = Finder(db).resolve_many(searches)
    assert [a.number for a in answers[:3]] == ["+33612345670", "+33612345671", "+33612345672"]
    assert sum(a.found for a in answers) == 6
    assert {a.reason for a in answers[2600:]} == {"no_person"}


def test_a_batch_costs_a_handful_of_queries_not_one_per_search(db: Database, store: StoreBuilder) -> None:
    acme = store.company("Acme", domains=("acme.com",))
    for i in range(20):
        store.person(f"First{i}", f"Last{i}", at=(acme,), linkedin=f"linkedin.com/in/p{i}", phones=(MOBILE,))
    searches = [Search(linkedin_key=f"p{i % 40}") for i in range(1500)]
    searches += [
        Search(first_key=f"first{i}", last_key=f"last{i}", company_domain="acme.com") for i in range(1500)
    ]
    with statements_sent(db) as statements:
        answers = Finder(db).resolve_many(searches)
    assert sum(a.found for a in answers) == 38 * 20 + 20
    selects = [s for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH"))]
    assert len(selects) <= 30, "\n".join(s.splitlines()[0][:90] for s in selects)


def test_a_search_finding_nobody_reads_the_suppression_list_once(db: Database, store: StoreBuilder) -> None:
    acme = store.company("Acme", domains=("acme.com",))
    store.person("Ann", "Lee", at=(acme,), linkedin="linkedin.com/in/ann-lee", phones=(MOBILE,))
    finder = Finder(db)
    nobody, nobody_sent = _resolved_with_statements(db, finder, Search(linkedin_key="nobody"))
    ann, ann_sent = _resolved_with_statements(db, finder, Search(linkedin_key="ann-lee"))
    assert (nobody.found, ann.number) == (False, MOBILE)
    reads = [sum("suppressions" in statement for statement in sent) for sent in (nobody_sent, ann_sent)]
    assert reads == [1, 2], "a number found is screened once more before it is returned; none found, none"


def _resolved_with_statements(db: Database, finder: Finder, search: Search) -> tuple[Answer, list[str]]:
    """The finder's answer to ``search`` and the statements it sent to the database."""
    with statements_sent(db) as statements:
        (answer,) = finder.resolve_many([search])
    return answer, statements


def test_known_domain_without_the_person_falls_back_to_a_domainless_company_of_that_name(
    db: Database, store: StoreBuilder
) -> None:
    acme_site = store.company("Acme", domains=("acme.com",))
    acme_no_site = store.company("Acme")
    store.person("Ann", "Lee", at=(acme_site,), phones=(MOBILE_2,))
    store.person("Jane", "Doe", at=(acme_no_site,), phones=(MOBILE,))
    both = {"company_domain": "acme.com", "company_name": "Acme Inc."}
    assert find(db, firstname="Jane", lastname="Doe", **both).number == MOBILE
    # The key "acme" names no other domain: a search by acme.com reaches its domainless company (§2.4).
    assert find(db, firstname="Jane", lastname="Doe", company_domain="acme.com").number == MOBILE
    store.company("Acme", domains=("acme.de",))
    assert find(db, firstname="Jane", lastname="Doe", company_domain="acme.com").number is None
    assert find(db, firstname="Jane", lastname="Doe", **both).number == MOBILE
    store.person("Ann", "Lee", at=(acme_no_site,), phones=(FIXED,))
    assert find(db, firstname="Ann", lastname="Lee", **both).number == MOBILE_2
    assert find(db, firstname="Ann", lastname="Lee", company_name="Acme").reason == "ambiguous"


# --- nicknames (docs/finder.md §2.7) --------------------------------------------------------------


def find_nick(db: Database, **params: object) -> Answer:
    return Finder(db, nicknames=True).resolve_many([search_from_params(params)])[0]


def test_a_nickname_finds_the_one_person_of_the_name_it_stands_for(db: Database, store: StoreBuilder) -> None:
    acme = store.company("Acme", domains=("acme.com",))
    michael = store.person("Michael", "Rossi", at=(acme,), linkedin="linkedin.com/in/mr", phones=(MOBILE,))
    giuseppe = store.person("Giuseppe", "Verdi", at=(acme,), phones=(MOBILE_2,))
    paco = store.person("Francisco", "Ruiz", at=(acme,), phones=(FIXED,))
    for params, person, number in (
        ({"firstname": "Mike", "lastname": "Rossi", "company_domain": "acme.com"}, michael, MOBILE),
        ({"firstname": "Beppe", "lastname": "Verdi", "company_name": "Acme"}, giuseppe, MOBILE_2),
        ({"fullname": "Paco Ruiz", "company_domain": "acme.com"}, paco, FIXED),
    ):
        answer = find_nick(db, **params)
        expected = (number, f"p:{person}", "nickname")
        assert (answer.number, answer.person_key, answer.reason) == expected, params


def test_a_full_name_never_finds_a_person_on_record_under_a_nickname(
    db: Database, store: StoreBuilder
) -> None:
    """§2.7: the searched name is read as a nickname, never the other way round: a person on record
    as ``Beppe`` or ``Amy`` may be another name, or called just that, which no table can count."""
    acme = store.company("Acme")
    store.person("Beppe", "Verdi", at=(acme,), phones=(MOBILE,))
    store.person("Amy", "Adams", at=(acme,), linkedin="linkedin.com/in/aa", phones=(MOBILE_2,))
    for first, last in (("Giuseppe", "Verdi"), ("Amelia", "Adams")):
        answer = find_nick(db, firstname=first, lastname=last, company_name="Acme")
        assert (answer.number, answer.reason) == (None, "no_person"), first


def test_a_name_one_letter_from_the_searched_one_counts_against_a_nickname_match(
    db: Database, store: StoreBuilder
) -> None:
    """§2.7: an ``Angel`` search may be a misspelt ``Angela``: never matched to her, but an ``Angela``
    of the name at the company makes an ``Angelina`` match ambiguous (and an ``Alexa`` an
    ``Alexandra`` match for ``Alex``, though the table does not link Alex and Alexa)."""
    acme, beta = store.company("Acme"), store.company("Beta")
    store.person("Angela", "Baum", at=(acme,), phones=(MOBILE,))
    store.person("Angelina", "Baum", at=(acme,), phones=(MOBILE_2,))
    search = search_from_params({"firstname": "Angel", "lastname": "Baum", "company_name": "Acme"})
    with db.read() as conn:
        found = identify_many(conn, [search], nicknames=True)[search]
    assert (found.person_id, found.rule, found.nickname_rule, len(found.nicknamed)) == (
        None,
        "no_person",
        "ambiguous",
        2,
    )
    angelina = store.person("Angelina", "Roth", at=(beta,), linkedin="linkedin.com/in/ar", phones=(FIXED,))
    store.person("Angela", "Kern", at=(beta,), phones=(MOBILE,))
    answer = find_nick(db, firstname="Angel", lastname="Roth", company_name="Beta")
    assert (answer.number, answer.person_key, answer.reason) == (FIXED, f"p:{angelina}", "nickname")
    assert find_nick(db, firstname="Angel", lastname="Kern", company_name="Beta").reason == "no_person"
    store.person("Alexandra", "Kern", at=(beta,), phones=(MOBILE_2,))
    assert find_nick(db, firstname="Alex", lastname="Kern", company_name="Beta").reason == "nickname"
    store.person("Alexa", "Kern", at=(beta,), linkedin="linkedin.com/in/ak", phones=(FIXED,))
    assert find_nick(db, firstname="Alex", lastname="Kern", company_name="Beta").reason == "no_person"


def test_the_exact_name_comes_first(db: Database, store: StoreBuilder) -> None:
    acme = store.company("Acme")
    store.person("Michael", "Rossi", at=(acme,), linkedin="linkedin.com/in/mr", phones=(MOBILE,))
    mike = store.person("Mike", "Rossi", at=(acme,), phones=(MOBILE_2,))
    answer = find_nick(db, firstname="Mike", lastname="Rossi", company_name="Acme")
    assert (answer.number, answer.person_key, answer.reason) == (MOBILE_2, f"p:{mike}", "name_company")


def test_a_nickname_matching_several_people_finds_nobody(db: Database, store: StoreBuilder) -> None:
    acme = store.company("Acme")
    store.person("Christopher", "Bianchi", at=(acme,), phones=(MOBILE,))
    store.person("Christian", "Bianchi", at=(acme,), phones=(MOBILE_2,))
    search = search_from_params({"firstname": "Chris", "lastname": "Bianchi", "company_name": "Acme"})
    [answer] = Finder(db, nicknames=True).resolve_many([search])
    assert (answer.number, answer.person_key, answer.reason) == (None, None, "no_person")
    with db.read() as conn:
        found = identify_many(conn, [search], nicknames=True)[search]
    assert (found.nickname_rule, len(found.nicknamed)) == ("ambiguous", 2)


def test_a_nickname_never_reaches_an_ambiguous_group_or_another_profile(
    db: Database, store: StoreBuilder
) -> None:
    acme = store.company("Acme")
    store.person("Robert", "Neri", at=(acme,), linkedin="linkedin.com/in/rn", phones=(MOBILE,))
    assert find_nick(db, firstname="Bob", lastname="Neri", company_name="Acme").number == MOBILE
    conflict = find(
        db, linkedin_url="linkedin.com/in/someone-else", firstname="Bob", lastname="Neri", company_name="Acme"
    )
    assert (conflict.number, conflict.reason) == (None, "no_person")
    group = store.person("Giovanni", "Gallo", at=(acme,), phones=(MOBILE_2,))
    with db.write() as conn:
        conn.execute(sa.update(people).where(people.c.id == group).values(ambiguous=True))
    assert find_nick(db, firstname="Gianni", lastname="Gallo", company_name="Acme").number is None


def test_nicknames_are_on_by_default_and_off_with_the_setting_false(
    db: Database, store: StoreBuilder, monkeypatch: pytest.MonkeyPatch
) -> None:
    acme = store.company("Acme")
    store.person("Michael", "Rossi", at=(acme,), phones=(MOBILE,))
    search = search_from_params({"firstname": "Mike", "lastname": "Rossi", "company_name": "Acme"})
    monkeypatch.delenv("TROVA_NICKNAMES", raising=False)
    on = Finder(db, nicknames=Settings().nicknames).resolve_many([search])[0]
    monkeypatch.setenv("TROVA_NICKNAMES", "false")
    off = Finder(db, nicknames=Settings().nicknames).resolve_many([search])[0]
    assert (on.number, on.reason, off.number, off.reason) == (MOBILE, "nickname", None, "no_person")


def test_nicknames_stay_at_the_company_and_can_be_turned_off(db: Database, store: StoreBuilder) -> None:
    acme, beta = store.company("Acme"), store.company("Beta")
    store.person("Michael", "Rossi", at=(beta,), phones=(MOBILE,))
    assert find_nick(db, firstname="Mike", lastname="Rossi", company_name="Acme").reason == "no_person"
    store.person("Michael", "Rossi", at=(acme,), phones=(MOBILE_2,))
    search = search_from_params({"firstname": "Mike", "lastname": "Rossi", "company_name": "Acme"})
    assert Finder(db, nicknames=True).resolve_many([search])[0].number == MOBILE_2
    off = Finder(db, nicknames=False).resolve_many([search])[0]
    assert (off.number, off.reason) == (None, "no_person")


def test_a_short_form_on_record_as_a_given_name_at_the_company_is_no_nickname_there(
    db: Database, store: StoreBuilder
) -> None:
    """§2.7: a ``Mike`` on record at Acme (any last name) makes Mike a given name there: a ``Mike
    Rossi`` search may be a Mike missing from the store, not the one Michael Rossi, and stays
    ``no_person`` (upstream sources are asked). A Mike at another company does not count, and
    erasing Acme's Mike lets the nickname through again."""
    acme, beta = store.company("Acme", domains=("acme.com",)), store.company("Beta")
    michael = store.person("Michael", "Rossi", at=(acme,), linkedin="linkedin.com/in/mr", phones=(MOBILE,))
    mike = {"firstname": "Mike", "lastname": "Rossi", "company_domain": "acme.com"}
    assert (find_nick(db, **mike).number, find_nick(db, **mike).person_key) == (MOBILE, f"p:{michael}")
    store.person("Mike", "Bianchi", at=(beta,), phones=(FIXED,))
    assert find_nick(db, **mike).reason == "nickname"
    store.person("Mike", "Bianchi", at=(acme,), linkedin="linkedin.com/in/mb", phones=(MOBILE_2,))
    blocked = find_nick(db, **mike)
    assert (blocked.number, blocked.person_key, blocked.reason) == (None, None, "no_person")
    search = search_from_params(mike)
    with db.read() as conn:
        found = identify_many(conn, [search], nicknames=True)[search]
    assert (found.nickname_rule, found.nicknamed, found.given_name_at) == (
        "given_name",
        (michael,),
        (("mike", acme),),
    )
    assert find_nick(db, firstname="Michael", lastname="Rossi", company_name="Acme").number == MOBILE
    with db.write() as conn:
        report = erasure.erase(conn, selector_from(linkedin="linkedin.com/in/mb"), now=utcnow())
    assert report.people == 1
    assert find_nick(db, **mike).reason == "nickname"
