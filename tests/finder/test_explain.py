"""``trova explain``: the explanation agrees with the finder, in text and JSON, on both databases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.finder.builder import StoreBuilder
from tests.support.servers import run_trova
from trova.finder.explain import explain, render_text
from trova.finder.service import Finder
from trova.people.normalise import search_from_params
from trova.store import Database
from trova.store.migrate import upgrade

MOBILE, MOBILE_2, FIXED, TOLL_FREE = "+33612345678", "+33698765432", "+33142685300", "+33800123456"


@pytest.fixture
def acme_store(db: Database) -> StoreBuilder:
    store = StoreBuilder(db)
    acme = store.company("Acme Corp", domains=("acme.com",))
    globex = store.company("Globex")
    jane = store.person("Jane", "Doe", at=(acme,), phones=(MOBILE, TOLL_FREE, "garbage"), source="a")
    store.phone(jane, FIXED, source="b")
    store.person("John", "Roe", at=(acme,), phones=(FIXED,))
    store.person("Jane", "Doe", at=(globex,), linkedin="linkedin.com/in/jane-globex", phones=(MOBILE_2,))
    store.person("Sam", "Twin", at=(acme,), phones=(MOBILE_2,))
    store.person("Sam", "Twin", at=(acme,))
    return store


@pytest.mark.parametrize(
    ("params", "rule"),
    [
        ({"firstname": "Jane", "lastname": "Doe", "company_domain": "www.acme.com"}, "name_company"),
        (
            {
                "linkedin_url": "linkedin.com/in/jane-globex",
                "firstname": "John",
                "lastname": "Roe",
                "company_name": "Acme",
            },
            "linkedin",
        ),
        ({"firstname": "Jane", "lastname": "Doe", "company_name": "Initech"}, "no_person"),
        ({"firstname": "Sam", "lastname": "Twin", "company_name": "Acme"}, "ambiguous"),
        (
            {
                "linkedin_url": "linkedin.com/in/other",
                "firstname": "Jane",
                "lastname": "Doe",
                "company_name": "Globex",
            },
            "linkedin_conflict",
        ),
    ],
)
def test_explanation_agrees_with_the_finder(
    db: Database, acme_store: StoreBuilder, params: dict[str, str], rule: str
) -> None:
    search = search_from_params(params)
    explanation = explain(db, search)
    assert explanation.answer == Finder(db).resolve_many([search])[0]
    assert explanation.rule == rule


def test_explanation_lists_every_number_with_its_verdict(db: Database, acme_store: StoreBuilder) -> None:
    explanation = explain(
        db, search_from_params({"firstname": "Jane", "lastname": "Doe", "company_name": "Acme"})
    )
    [candidate] = explanation.candidates
    numbers = {n.e164 or n.raw: (n.exclusion, n.shared, n.sources) for n in candidate.numbers}
    assert numbers == {
        MOBILE: (None, False, ("a",)),
        FIXED: (None, True, ("b",)),
        TOLL_FREE: ("toll_free", False, ("a",)),
        "garbage": ("unparseable", False, ("a",)),
    }
    assert candidate.company_names == ("acme",) and candidate.company_domains == ("acme.com",)
    assert [p.linkedin_key for p in explanation.namesakes] == ["jane-globex"]
    data = explanation.to_dict()
    assert data["number"] == MOBILE and data["rule"] == "name_company"
    assert [n["chosen"] for n in data["candidates"][0]["numbers"]] == [True, False, False, False]  # type: ignore[index]


def test_explain_command_text_and_json(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    db = Database(url)
    upgrade(db)
    store = StoreBuilder(db)
    acme = store.company("Acme", domains=("acme.co.uk",))
    store.person("Élodie", "Martin", at=(acme,), phones=(MOBILE, TOLL_FREE))
    db.dispose()
    env = {"TROVA_DATABASE_URL": url}

    text = run_trova(
        "explain",
        "--first",
        "elodie",
        "--last",
        "MARTIN",
        "--domain",
        "https://jobs.acme.co.uk/x",
        env=env,
        cwd=tmp_path,
    ).stdout
    assert "company_domain: acme.co.uk" in text
    assert f"{MOBILE}" in text and "CHOSEN" in text and "excluded: toll_free" in text
    assert "Rule: name_company" in text

    result = run_trova(
        "explain", "--full", "Élodie Martin", "--company", "ACME Ltd", "--json", env=env, cwd=tmp_path
    )
    data = json.loads(result.stdout)
    assert (data["qualification"], data["number"], data["country"], data["line_type"]) == (
        "found",
        MOBILE,
        "FR",
        "mobile",
    )
    assert data["search"]["company_key"] == "acme"

    missing = run_trova("explain", "--first", "Elodie", env=env, cwd=tmp_path, check=False)
    assert missing.returncode != 0 and missing.stdout == ""
    assert (
        missing.stderr.startswith("error: Missing mandatory property")
        and len(missing.stderr.splitlines()) == 1
    )

    bad_url = run_trova(
        "explain", "--linkedin", "https://linkedin.com/company/acme", env=env, cwd=tmp_path, check=False
    )
    assert bad_url.returncode != 0 and bad_url.stderr.startswith("error: Invalid linkedin_url")

    absent = tmp_path / "absent.db"
    no_store = run_trova(
        "explain",
        "--linkedin",
        "linkedin.com/in/x",
        env={"TROVA_DATABASE_URL": f"sqlite:///{absent}"},
        cwd=tmp_path,
        check=False,
    )
    assert (
        no_store.returncode != 0
        and "no database at" in no_store.stderr
        and "Traceback" not in no_store.stderr
    )
    assert not absent.exists()


def test_explain_says_why_each_candidate_counts_or_is_ambiguous(db: Database, tmp_path: Path) -> None:
    """docs/finder.md §2.6, §7: a weak record several profiles could own is shown as dropped."""
    from trova.ingest.service import import_paths

    header = "linkedin_url,first_name,last_name,company_domain,phone\n"
    rows = [",Jan,Jansen,acme.nl,+33612340009", "linkedin.com/in/jan-1,Jan,Jansen,acme.nl,+33612340001"]
    path = tmp_path / "a.csv"
    path.write_text(header + "\n".join(rows) + "\n", encoding="utf-8")
    import_paths(db, [path], workers=0)
    by_names = search_from_params({"first_name": "Jan", "last_name": "Jansen", "company_domain": "acme.nl"})
    owned = explain(db, by_names)
    assert owned.rule == "name_company" and len(owned.candidates) == 1
    assert "1 group(s)" in owned.candidates[0].identity and not owned.namesakes
    assert {number.e164 for number in owned.candidates[0].numbers} == {"+33612340001", "+33612340009"}

    path.write_text(header + "linkedin.com/in/jan-2,Jan,Jansen,acme.nl,+33612340002\n", encoding="utf-8")
    import_paths(db, [path], workers=0)
    ambiguous = explain(db, by_names)
    assert ambiguous.rule == "ambiguous"
    assert sorted(person.identity.split(":")[0] for person in ambiguous.candidates) == [
        "dropped",
        "kept",
        "kept",
    ]


def test_explain_shows_when_a_nickname_was_used_and_why_not(db: Database) -> None:
    store = StoreBuilder(db)
    acme = store.company("Acme")
    store.person("Giuseppe", "Verdi", at=(acme,), phones=(MOBILE,))
    store.person("Christopher", "Bianchi", at=(acme,), phones=(MOBILE_2,))
    store.person("Christian", "Bianchi", at=(acme,), phones=(FIXED,))

    beppe = search_from_params({"firstname": "Beppe", "lastname": "Verdi", "company_name": "Acme"})
    used = explain(db, beppe, nicknames=True)
    text = render_text(used)
    assert used.answer.number == MOBILE and used.rule == "nickname"
    assert "Nicknames (the names found nobody): used: exactly one person matches" in text
    assert "names: giuseppe / verdi" in text and "Rule: nickname:" in text

    chris = search_from_params({"firstname": "Chris", "lastname": "Bianchi", "company_name": "Acme"})
    refused = explain(db, chris, nicknames=True)
    assert (refused.answer.number, refused.rule, refused.nickname_rule) == (None, "no_person", "ambiguous")
    assert len(refused.nicknamed) == 2
    assert "not used: several people match through nicknames" in render_text(refused)
    assert refused.to_dict()["nickname_rule"] == "ambiguous"

    off = explain(db, chris, nicknames=False)
    assert (off.nickname_rule, off.nicknamed) == (None, ())
    assert "Nicknames" not in render_text(off)


def test_explain_names_the_given_name_that_kept_a_nickname_from_being_used(
    db: Database, db_url: str, tmp_path: Path
) -> None:
    """§2.7: a Ben on record at Acme makes Ben a given name there, and explain (the command too)
    says so, naming the first name and the company; the Benjamin it would have found is shown."""
    store = StoreBuilder(db)
    acme = store.company("Acme", domains=("acme.com",))
    store.person("Benjamin", "Arnold", at=(acme,), phones=(MOBILE,))
    store.person("Ben", "Keller", at=(acme,), phones=(MOBILE_2,))
    ben = search_from_params({"firstname": "Ben", "lastname": "Arnold", "company_domain": "acme.com"})
    refused = explain(db, ben, nicknames=True)
    sentence = "nickname not used: 'ben' is on record as a given name at acme / acme.com"
    assert (refused.answer.number, refused.rule, refused.nickname_rule) == (None, "no_person", "given_name")
    assert refused.given_names == (sentence,) and len(refused.nicknamed) == 1
    text = render_text(refused)
    assert "not used: exactly one person matches through a nickname, but" in text and sentence in text
    assert refused.to_dict()["given_names"] == [sentence]
    db.dispose()
    env = {"TROVA_DATABASE_URL": db_url, "TROVA_NICKNAMES": "true"}
    printed = run_trova(
        "explain", "--full", "Ben Arnold", "--domain", "acme.com", env=env, cwd=tmp_path
    ).stdout
    assert sentence in printed and "names: benjamin / arnold" in printed and "Answer: not_found" in printed
