"""Identity does not depend on the order of the records (issue 13, docs/finder.md §2.6).

Random small stores of namesakes (some known by a name another's first name stands for as a
nickname: Bob and Robert both ways, Angel for Angelina one way, with an Angela one letter away, and
a Bob of another last name who makes Bob a given name at his company, docs/finder.md §2.7), shared
company keys, records with and without a profile are
imported in random orders, splits and chunk sizes, part of them kept as an upstream source's
answers; every search must answer the same in every store, and the same as :func:`reference`, a
resolver written here from the rules of docs/finder.md §2 (not from Trova's code).
"""

from __future__ import annotations

import datetime as dt
import itertools
import shutil
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.support.databases import fresh_postgres_database
from trova.contacts.models import ContactRecord, RawRow
from trova.contacts.normalise import normalise_row
from trova.finder.service import Finder
from trova.ingest.service import import_paths, store_records
from trova.people.models import Answer, Search
from trova.store import Database, utcnow
from trova.store.migrate import upgrade

NAMES = (
    ("Ann", "Lee"),
    ("Angel", "Lee"),
    ("Angela", "Lee"),
    ("Angelina", "Lee"),
    ("Bob", "Roe"),
    ("Robert", "Roe"),
    ("Bob", "Lee"),
)
NICKNAMES = {"bob": {"robert"}, "robert": {"bob"}, "angel": {"angelina"}}
"""What each first name of ``NAMES`` stands for as a nickname among them (``Ann`` for none; ``Angela``
and ``Angelina`` for nothing: a full name is never read as its nickname)."""
ONE_LETTER_AWAY = {"angel": {"angela"}, "angela": {"angel"}}
"""The first names of ``NAMES`` one letter from another: never matched, but counted against a
nickname match (the search may be a misspelling of that name)."""
PROFILES = ("p1", "p2", "p3")
DOMAINS = (None, "acme.com", "acme.de", "beta.io")
COMPANIES = (None, "Acme", "Beta")
FIRST_DAY = dt.date(2020, 1, 1)
HEADER = "linkedin_url,first_name,last_name,company_name,company_domain,phone,observed_at,source\n"
CONTACT_TABLES = (
    "phone_observations",
    "person_companies",
    "person_names",
    "company_domains",
    "company_names",
    "companies",
    "people",
)

Company = tuple[str, str]  # ("d", domain) or ("k", company key)
Identity = tuple[str, object]  # ("p", profile) or ("g", (name, company)); "amb" for an ambiguous group
Group = tuple[tuple[str, str], Company]
AMBIGUOUS: Identity = ("amb", None)
PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.target)
"""No shrinking: every example builds several stores, and a failure prints its records anyway."""


@dataclass(frozen=True)
class Rec:
    profile: str | None
    name: tuple[str, str] | None
    domain: str | None
    company: str | None
    upstream: bool

    @property
    def key(self) -> str | None:
        return self.company.lower() if self.company else None

    @property
    def name_key(self) -> tuple[str, str] | None:
        return (self.name[0].lower(), self.name[1].lower()) if self.name else None

    @property
    def group(self) -> Group:
        """The weak group of a record without a profile: its names at its company."""
        assert self.name_key is not None and self.where is not None
        return (self.name_key, self.where)

    @property
    def where(self) -> Company | None:
        if self.domain:
            return ("d", self.domain)
        return ("k", self.key) if self.key else None


@st.composite
def records(draw: st.DrawFn) -> Rec:
    profile = draw(st.sampled_from((None, *PROFILES)))
    name = draw(st.sampled_from(NAMES) if profile is None else st.sampled_from((None, *NAMES)))
    domain, company = draw(st.sampled_from([(d, c) for d in DOMAINS for c in COMPANIES]))
    if profile is None and not (domain or company):
        company = "Acme"
    return Rec(profile, name, domain, company, draw(st.booleans()))


def number(index: int) -> str:
    return f"+3361234{index:04d}"


# --- the reference: docs/finder.md §2 and §3 applied to the records -------------------------------


class Reference:
    """Who each search names and which number answers it, from the rules alone."""

    def __init__(self, recs: list[Rec]) -> None:
        self.recs = recs
        self.domain_keys: dict[str, set[str]] = defaultdict(set)
        self.bare_keys: set[str] = set()
        self.names: dict[str, set[tuple[str, str]]] = defaultdict(set)
        self.companies: dict[str, set[Company]] = defaultdict(set)
        for rec in recs:
            if rec.domain:
                self.domain_keys[rec.domain] |= {rec.key} if rec.key else set()
            elif rec.key:
                self.bare_keys.add(rec.key)
            if rec.profile:
                self.names[rec.profile] |= {rec.name_key} if rec.name_key else set()
                self.companies[rec.profile] |= {rec.where} if rec.where else set()
        self.groups = {r.group for r in recs if r.profile is None}
        self.owner = self._owners()

    def named(self, key: str) -> set[Company]:
        found: set[Company] = {("d", d) for d, keys in self.domain_keys.items() if key in keys}
        return found | ({("k", key)} if key in self.bare_keys else set())

    def reach(self, company: Company) -> set[Company]:
        """A name alone reaches every company of that name; a domain reaches the name-only
        companies of its names when those names stand for no other domain."""
        kind, value = company
        if kind == "k":
            return {company} | self.named(value)
        reached = {company}
        for key in self.domain_keys[value]:
            if {c for c in self.named(key) if c[0] == "d"} <= {company} and key in self.bare_keys:
                reached.add(("k", key))
        return reached

    def profiled_at(self, name: tuple[str, str], companies: set[Company]) -> set[Identity]:
        return {
            ("p", profile)
            for profile in self.names
            if name in self.names[profile] and self.companies[profile] & companies
        }

    def _owners(self) -> dict[Group, Identity]:
        owner: dict[Group, Identity] = {}
        for group in sorted(g for g in self.groups if g[1][0] == "d"):
            owner[group] = self._one(self.profiled_at(group[0], self.reach(group[1])), group)
        for group in sorted(g for g in self.groups if g[1][0] == "k"):
            reached = self.reach(group[1])
            found = self.profiled_at(group[0], reached)
            found |= {owner[(group[0], c)] for c in reached if (group[0], c) in owner}
            owner[group] = self._one(found, group)
        return owner

    @staticmethod
    def _one(found: set[Identity], group: Group) -> Identity:
        if AMBIGUOUS in found or len(found) > 1:
            return AMBIGUOUS
        return found.pop() if found else ("g", group)

    def identity(self, search: Search) -> Identity | None:
        if search.linkedin_key in self.names:
            return ("p", search.linkedin_key)
        if not search.has_names:
            return None
        name = (search.first_key or "", search.last_key or "")
        by_key = self.named(search.company_key) if search.company_key else set()
        if search.company_domain and search.company_domain in self.domain_keys:
            first = self.reach(("d", search.company_domain))
            choices = [first, {c for c in by_key if c[0] == "k"} - first]
        else:
            choices = [by_key]
        found = self.matching({name}, choices, search)
        if found is None:
            alternatives = {(other, name[1]) for other in NICKNAMES.get(name[0], ())}
            found = self.matching(alternatives, choices, search)
            close = {(other, name[1]) for other in ONE_LETTER_AWAY.get(name[0], ())}
            if found and close and self.matching(alternatives | close, choices, search) != found:
                found = False
            if found and self.given_name_at(name[0], self.matched_choice(alternatives, choices)):
                found = False
        return found or None

    def matched_choice(self, names: set[tuple[str, str]], choices: list[set[Company]]) -> set[Company]:
        """The first choice where any of ``names`` match (the companies a match pools over)."""
        for choice in choices:
            if any(
                self.profiled_at(name, choice) or any((name, c) in self.owner for c in choice)
                for name in names
            ):
                return choice
        return set()

    def given_name_at(self, first: str, companies: set[Company]) -> bool:
        """§2.7: someone on record under the first name ``first`` (any last name) at ``companies``:
        a person of a profile known by it and linked to one of them, or a record without a profile."""
        for rec in self.recs:
            if rec.name_key is None or rec.name_key[0] != first:
                continue
            if (self.companies[rec.profile] if rec.profile else {rec.where}) & companies:
                return True
        return False

    def matching(
        self, names: set[tuple[str, str]], choices: list[set[Company]], search: Search
    ) -> Identity | Literal[False] | None:
        """Who ``names`` name at the first choice where any of them match: None when nobody,
        False when not exactly one person (or a person of another profile)."""
        found: set[Identity] = set()
        for choice in choices:
            for name in names:
                found |= self.profiled_at(name, choice)
                found |= {self.owner[(name, c)] for c in choice if (name, c) in self.owner}
            if found:
                break
        if not found:
            return None
        if len(found) != 1 or AMBIGUOUS in found:
            return False
        only = found.pop()
        return False if search.linkedin_key and only[0] == "p" else only

    def number(self, search: Search) -> str | None:
        wanted = self.identity(search)
        held = [
            (FIRST_DAY + dt.timedelta(days=index), number(index))
            for index, rec in enumerate(self.recs)
            if wanted is not None and self._of(rec) == wanted
        ]
        return max(held)[1] if held else None

    def _of(self, rec: Rec) -> Identity:
        if rec.profile:
            return ("p", rec.profile)
        return self.owner[rec.group]


def all_searches() -> list[Search]:
    found = [Search(linkedin_key=profile) for profile in (*PROFILES, "nobody")]
    for first, last in NAMES:
        for domain in DOMAINS:
            for company in COMPANIES:
                if domain or company:
                    for profile in (None, "nobody"):
                        found.append(
                            Search(
                                linkedin_key=profile,
                                first_key=first.lower(),
                                last_key=last.lower(),
                                company_domain=domain,
                                company_key=company.lower() if company else None,
                            )
                        )
    return found


# --- building stores --------------------------------------------------------------------------------


def _row(index: int, rec: Rec) -> dict[str, str]:
    first, last = rec.name or ("", "")
    return {
        "linkedin_url": f"https://www.linkedin.com/in/{rec.profile}" if rec.profile else "",
        "first_name": first,
        "last_name": last,
        "company_name": rec.company or "",
        "company_domain": rec.domain or "",
        "phone": number(index),
        "observed_at": (FIRST_DAY + dt.timedelta(days=index)).isoformat(),
        "source": "upstream" if rec.upstream else "crm",
    }


def build(
    db: Database, recs: list[Rec], order: list[int], cuts: list[int], chunk_rows: int, tmp: Path
) -> None:
    """Store the records in ``order``, cut into parts at ``cuts``: each part's file rows by one
    ``import_paths`` of ``chunk_rows``-row chunks, its upstream rows by ``store_records``."""
    bounds = [0, *sorted(set(cuts)), len(order)]
    now = utcnow()
    for part, (start, end) in enumerate(itertools.pairwise(bounds)):
        indexes = order[start:end]
        upstream = [i for i in indexes if recs[i].upstream]
        rows = [_row(i, recs[i]) for i in indexes if not recs[i].upstream]
        if rows:
            path = tmp / f"part{part}.csv"
            lines = [",".join(row[column] for column in HEADER.strip().split(",")) for row in rows]
            path.write_text(HEADER + "\n".join(lines) + "\n", encoding="utf-8")
            import_paths(db, [path], chunk_rows=chunk_rows, workers=0)
        normalised = [
            normalise_row("upstream", "upstream", RawRow(i, _row(i, recs[i])), now) for i in upstream
        ]
        if normalised:
            store_records(db, [r for r in normalised if isinstance(r, ContactRecord)], now)


def answers(db: Database) -> dict[Search, tuple[object, ...]]:
    searches = all_searches()
    found: list[Answer] = Finder(db, nicknames=True).resolve_many(searches)
    return {
        search: (a.number, a.sources, a.line_type, a.last_seen, a.reason)
        for search, a in zip(searches, found, strict=True)
    }


@dataclass
class Stores:
    """Fresh empty stores: a copy of a migrated SQLite file, or one PostgreSQL database emptied."""

    tmp: Path
    template: Path | None = None
    postgres: Database | None = None
    made: int = 0

    def fresh(self) -> Database:
        self.made += 1
        if self.postgres is not None:
            with self.postgres.write() as conn:
                conn.execute(sa.text(f"TRUNCATE {', '.join(CONTACT_TABLES)} RESTART IDENTITY CASCADE"))
            return self.postgres
        assert self.template is not None
        path = self.tmp / f"store{self.made}.db"
        shutil.copy(self.template, path)
        return Database(f"sqlite:///{path}")


@pytest.fixture(scope="module")
def sqlite_stores(tmp_path_factory: pytest.TempPathFactory) -> Stores:
    tmp = tmp_path_factory.mktemp("order")
    template = tmp / "template.db"
    db = Database(f"sqlite:///{template}")
    upgrade(db)
    db.engine.dispose()
    return Stores(tmp, template=template)


@pytest.fixture(scope="module")
def postgres_stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stores]:
    with fresh_postgres_database() as url:
        db = Database(url)
        upgrade(db)
        yield Stores(tmp_path_factory.mktemp("order-pg"), postgres=db)
        db.engine.dispose()


store_cases = st.lists(records(), min_size=1, max_size=9).flatmap(
    lambda recs: st.tuples(
        st.just(recs),
        st.lists(
            st.tuples(
                st.permutations(list(range(len(recs)))),
                st.lists(st.integers(0, len(recs)), max_size=3),
                st.sampled_from((1, 2, 500)),
            ),
            min_size=2,
            max_size=3,
        ),
    )
)


def check(stores: Stores, recs: list[Rec], builds: list[tuple[list[int], list[int], int]]) -> None:
    reference = Reference(recs)
    expected = {search: reference.number(search) for search in all_searches()}
    seen: list[dict[Search, tuple[object, ...]]] = []
    for order, cuts, chunk_rows in builds:
        db = stores.fresh()
        build(db, recs, order, cuts, chunk_rows, stores.tmp)
        got = answers(db)
        assert {search: found[0] for search, found in got.items()} == expected
        seen.append(got)
        if stores.postgres is None:
            db.engine.dispose()
    assert all(got == seen[0] for got in seen[1:])


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], phases=PHASES
)
@given(case=store_cases)
def test_every_order_gives_the_same_answers_as_the_rules(
    sqlite_stores: Stores, case: tuple[list[Rec], list[tuple[list[int], list[int], int]]]
) -> None:
    check(sqlite_stores, *case)


@pytest.mark.postgres
@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], phases=PHASES
)
@given(case=store_cases)
def test_every_order_gives_the_same_answers_on_postgresql(
    postgres_stores: Stores, case: tuple[list[Rec], list[tuple[list[int], list[int], int]]]
) -> None:
    check(postgres_stores, *case)


@pytest.mark.parametrize(
    "stores_fixture", ["sqlite_stores", pytest.param("postgres_stores", marks=pytest.mark.postgres)]
)
def test_a_domain_gaining_the_key_of_a_profiled_namesakes_company_gives_the_group_its_owner(
    stores_fixture: str, request: pytest.FixtureRequest
) -> None:
    """Found at 200,000 people: a weak record at a domain, then the profiled person of that name at a
    company known by its name alone, then a record that links that name to the domain. The group
    must belong to the profiled person whatever the order (docs/finder.md §2.6, rule 1)."""
    recs = [
        Rec(None, ("Ann", "Lee"), "acme.com", None, upstream=False),
        Rec("p1", ("Ann", "Lee"), None, "Acme", upstream=False),
        Rec("p2", ("Bob", "Roe"), "acme.com", "Acme", upstream=False),
    ]
    check(request.getfixturevalue(stores_fixture), recs, [([0, 1, 2], [1, 2], 500), ([2, 1, 0], [], 500)])


@pytest.mark.parametrize(
    "stores_fixture", ["sqlite_stores", pytest.param("postgres_stores", marks=pytest.mark.postgres)]
)
def test_a_short_form_on_record_as_a_given_name_at_the_company_is_no_nickname_there(
    stores_fixture: str, request: pytest.FixtureRequest
) -> None:
    """§2.7: a Bob Lee at Acme makes Bob a given name there, so a Bob Roe search does not take the one
    Robert Roe at Acme (nor a Robert Lee search the Bob Lee: Robert Roe is on record there); at Beta,
    with no Bob, it does, whatever the order."""
    recs = [
        Rec("p1", ("Robert", "Roe"), "acme.com", "Acme", upstream=False),
        Rec(None, ("Bob", "Lee"), "acme.com", "Acme", upstream=False),
        Rec("p2", ("Robert", "Roe"), None, "Beta", upstream=True),
    ]
    reference = Reference(recs)
    bob_roe = Search(first_key="bob", last_key="roe", company_domain="acme.com", company_key="acme")
    robert_lee = Search(first_key="robert", last_key="lee", company_domain="acme.com", company_key="acme")
    at_beta = Search(first_key="bob", last_key="roe", company_key="beta")
    assert [reference.number(s) for s in (bob_roe, robert_lee, at_beta)] == [None, None, number(2)]
    check(request.getfixturevalue(stores_fixture), recs, [([0, 1, 2], [1, 2], 500), ([2, 1, 0], [], 1)])
