"""Generate a contact store to import and searches with their expected answers (issue 3 §7).

    .venv/bin/python bench/generate.py --people 20000 --out /tmp/trova-bench
    .venv/bin/python bench/generate.py --people 1000000 --searches 20000 --out /tmp/trova-1m
    .venv/bin/python bench/generate.py --people 20000 --dense --out /tmp/trova-dense

``--dense``: a few companies with thousands of employees each and small pools of common names, so
namesakes at one company come by the hundred (issue 13); a record without a profile then often
names several people, and the expected answers follow docs/finder.md §2.6 (such a record belongs
to nobody while two profiles of its name work there).

Writes four record files, one per source, each in another dialect (``crm.csv`` comma with BOM,
``vendor_a.tsv`` tab with header aliases, ``vendor_b.jsonl``, ``enrich.csv`` semicolon), and
``searches.jsonl``: one search a line, ``{"category", "params", "expected"}`` where ``expected`` is
the E.164 number the rules of docs/finder.md give from the generated truth, or null for not_found.

The truth is built first (companies, people, the numbers each source saw) and the expected answer is
computed from it, never from Trova. Noise: every LinkedIn URL form, case/accents/hyphens in names,
legal suffixes and ``&``/``and``, URLs for domains (``.co.uk``, ``.com.br``, ...), numbers in
national/international/E.164/``00``/dotted forms. Traps: see ``CATEGORIES``; ``nickname`` searches a
person by a short form of their first name that Trova's own table (``trova.people.nicknames``) reads
as it, so only the nickname fallback (docs/finder.md §2.7) finds them, and expects their own answer.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import re
import sys
import time
from array import array
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import phonenumbers as pn
from anyascii import anyascii
from faker import Faker

from trova.people.nicknames import nicknames, readings
from trova.people.normalise import name_key

LOCALES = {  # Faker locale -> (region, public suffix, legal suffixes as written)
    "en_US": ("US", "com", ("Inc.", "LLC", "Corp.", "Inc", "Corporation")),
    "en_GB": ("GB", "co.uk", ("Ltd", "Limited", "PLC", "Ltd.")),
    "fr_FR": ("FR", "fr", ("SAS", "SA", "SARL", "S.A.S.")),
    "de_DE": ("DE", "de", ("GmbH", "AG", "KG")),
    "es_ES": ("ES", "es", ("S.L.", "SA", "S.A.")),
    "it_IT": ("IT", "it", ("S.p.A.", "S.r.l.", "SpA")),
    "pt_BR": ("BR", "com.br", ("Ltda.", "S.A.", "Ltda")),
    "nl_NL": ("NL", "nl", ("B.V.", "N.V.", "BV")),
    "pl_PL": ("PL", "pl", ("Sp. z o.o.", "S.A.")),
    "sv_SE": ("SE", "se", ("AB",)),
    "en_AU": ("AU", "com.au", ("Pty Ltd", "Pty. Ltd.")),
    "pt_PT": ("PT", "pt", ("Lda", "S.A.")),
}
COMPANY_WORDS = (
    "Group",
    "Solutions",
    "Consulting",
    "Labs",
    "Systems",
    "Logistics",
    "Partners",
    "Digital",
    "Analytics",
    "Foods",
    "Energy",
    "Media",
    "Robotics",
    "Software",
    "Capital",
    "Design",
    "Health",
    "Studio",
    "Works",
)
SOURCES = ("crm.csv", "vendor_a.tsv", "vendor_b.jsonl", "enrich.csv")
FIRST_DAY = dt.date(2019, 1, 1)
DAYS = 2400
PERSONAL = {
    pn.PhoneNumberType.MOBILE: 0,
    pn.PhoneNumberType.FIXED_LINE_OR_MOBILE: 0,
    pn.PhoneNumberType.FIXED_LINE: 1,
    pn.PhoneNumberType.VOIP: 1,
    pn.PhoneNumberType.PERSONAL_NUMBER: 1,
}

# Search categories and their share of the searches file (traps first).
CATEGORIES = {
    "linkedin": 10,
    "names_domain": 10,
    "names_company": 8,
    "full_name": 5,
    "noisy_names": 6,
    "name_only_company_via_domain": 4,
    "domain_via_company_name": 4,
    "unknown_person": 6,
    "wrong_company": 6,
    "one_letter_off": 6,
    "namesake_names": 4,
    "namesake_linkedin": 3,
    "linkedin_known_overrides_names": 3,
    "linkedin_unknown_fallback": 3,
    "linkedin_unknown_conflict": 3,
    "invalid_or_toll_free": 4,
    "switchboard_vs_personal": 3,
    "switchboard_only": 2,
    "corroborated_vs_newer": 4,
    "newer_vs_older": 4,
    "mobile_vs_fixed": 3,
    "nickname": 4,
}
# Real given names with common short forms in Trova's nickname table (docs/finder.md §2.7), added to
# the pools Faker draws too few of them into (not in --dense, whose pools are the first names A-Z).
NICKNAMED_FIRSTS = {
    "de_DE": ("Friedrich", "Heinrich", "Katharina", "Matthias", "Maximilian", "Susanne"),
    "es_ES": ("Antonio", "Enrique", "Ignacio", "Manuel"),
    "it_IT": ("Giovanni", "Roberto", "Elisabetta"),
}


def fold(text: str) -> str:
    """docs/finder.md §1 name equality, written independently of Trova: ASCII, lower, one space."""
    return " ".join(re.sub(r"[^a-z0-9]+", " ", anyascii(text).lower()).split())


@dataclass
class Company:
    cid: int
    locale: str
    base: str
    domain: str
    switchboard: str | None = None
    people: list[int] = field(default_factory=list)
    linked: bool = False  # some record carries both its name and its domain


@dataclass
class Number:
    e164: str
    region: str
    group: int | None  # personal group (0 best), None: never returned (invalid, toll-free, ...)
    written: str | None = None  # fixed raw text for unparseable numbers
    stem: tuple[int, str] | None = None  # (country code, national stem) it was made from
    seen: list[tuple[str, dt.datetime]] = field(default_factory=list)


@dataclass
class Person:
    pid: int
    company: Company
    first: str
    last: str
    slug: str | None
    role: str = "normal"
    numbers: list[Number] = field(default_factory=list)
    company_forms: str = "mixed"  # which company fields the records carry: mixed | domain | name
    li_always: bool = False  # every row carries the profile URL (else 60% of rows)
    li_in_store: bool = False  # facts the records written so far give the store
    names_in_store: bool = False
    forms: set[str] = field(default_factory=set)
    li_rows: list[tuple[Number, str, dt.datetime]] = field(default_factory=list)  # rows with the profile
    li_names: bool = False  # some row with the profile carries the names
    li_company: bool = False  # some row with the profile carries the company


class NumberMaker:
    """Valid numbers of a region and type: verified stems + random 4-digit endings, never reused."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.stems: dict[tuple[str, int], list[tuple[int, str, int]]] = {}
        self.used: set[str] = set()
        self.stem_of: dict[str, tuple[int, str]] = {}

    def make(self, region: str, kind: int) -> tuple[str, int]:
        stems = self.stems.get((region, kind)) or self._stems(region, kind)
        while True:
            code, stem, real_type = self.rng.choice(stems)
            e164 = f"+{code}{stem}{self.rng.randrange(10_000):04d}"
            if e164 not in self.used:
                self.used.add(e164)
                self.stem_of[e164] = (code, stem)
                return e164, real_type

    def _stems(self, region: str, kind: int) -> list[tuple[int, str, int]]:
        example = pn.example_number_for_type(region, kind)
        assert example is not None, (region, kind)
        national = pn.national_significant_number(example)
        stems: set[tuple[int, str, int]] = set()
        for varied in (2, 1, 0):
            for _ in range(300):
                stem = national[: len(national) - 4 - varied] + "".join(
                    str(self.rng.randrange(10)) for _ in range(varied)
                )
                stems |= self._checked(example.country_code, stem)
                if len(stems) >= 30:
                    break
            if stems:
                break
        assert stems, f"no valid {region} numbers of type {kind}"
        self.stems[(region, kind)] = sorted(stems)
        return self.stems[(region, kind)]

    def _checked(self, code: int, stem: str) -> set[tuple[int, str, int]]:
        """The stem, if three random endings of it are all valid and of one type."""
        checks = [pn.parse(f"+{code}{stem}{self.rng.randrange(10_000):04d}") for _ in range(3)]
        types = {pn.number_type(number) for number in checks}
        if all(pn.is_valid_number(number) for number in checks) and len(types) == 1:
            return {(code, stem, types.pop())}
        return set()


DENSE_COMPANIES = 5
DENSE_FIRSTS, DENSE_LASTS = 30, 40


class Generator:
    def __init__(self, people: int, seed: int, *, dense: bool = False) -> None:
        self.rng = random.Random(seed)
        self.count = people
        self.dense = dense
        self.weak_rows: dict[tuple[int, str, str], list[tuple[Number, str, dt.datetime]]] = defaultdict(list)
        self.numbers = NumberMaker(self.rng)
        self.pools = {locale: self._pool(locale, seed) for locale in LOCALES}
        self.companies: list[Company] = []
        self.people: list[Person] = []
        self.names_at: dict[tuple[int, str, str], list[int]] = defaultdict(list)
        self.holders: dict[str, set[int]] = defaultdict(set)
        self.li_known: dict[str, Person] = {}

    def _pool(self, locale: str, seed: int) -> tuple[list[str], list[str]]:
        fake = Faker(locale)
        fake.seed_instance(seed)
        firsts = sorted({fake.first_name() for _ in range(600)})
        lasts = sorted({fake.last_name() for _ in range(1500)})
        if self.dense:
            return firsts[:DENSE_FIRSTS], lasts[:DENSE_LASTS]
        return sorted({*firsts, *NICKNAMED_FIRSTS.get(locale, ())}), lasts

    # --- truth -----------------------------------------------------------------------------------

    def build(self) -> None:
        company_count = DENSE_COMPANIES if self.dense else max(4, self.count // 12)
        keys: set[str] = set()
        while len(self.companies) < company_count:
            locale = self.rng.choice(list(LOCALES))
            base = self._company_base(locale)
            key = fold(base.replace("&", " and "))
            if key in keys:
                continue
            keys.add(key)
            suffix = LOCALES[locale][1]
            self.companies.append(
                Company(len(self.companies), locale, base, f"{key.replace(' ', '-')}.{suffix}")
            )
        for company in self.companies:
            if self.rng.random() < 0.3 and not self.dense:
                company.switchboard = self.numbers.make(
                    LOCALES[company.locale][0], pn.PhoneNumberType.FIXED_LINE
                )[0]
        slugs: set[str] = set()
        while len(self.people) < self.count:
            self._add_person(slugs)

    def _company_base(self, locale: str) -> str:
        last = self.rng.choice(self.pools[locale][1])
        shape = self.rng.random()
        if shape < 0.35:
            return f"{last} {self.rng.choice(COMPANY_WORDS)}"
        if shape < 0.55:
            other = self.rng.choice(self.pools[locale][1])
            return f"{last} & {other}" if self.rng.random() < 0.5 else f"{last} and {other}"
        if shape < 0.75:
            return f"{last} {self.rng.choice(COMPANY_WORDS)} {self.rng.choice(COMPANY_WORDS)}"
        return f"{self.rng.choice(COMPANY_WORDS)} {last}"

    def _add_person(self, slugs: set[str]) -> Person | None:
        company = self.rng.choice(self.companies)
        locale = company.locale if self.rng.random() < 0.85 else self.rng.choice(list(LOCALES))
        firsts, lasts = self.pools[locale]
        first, last = self.rng.choice(firsts), self.rng.choice(lasts)
        if self.names_at.get((company.cid, fold(first), fold(last))) and not self.dense:
            return None
        slug = self._slug(first, last, slugs) if self.rng.random() < 0.75 else None
        person = Person(len(self.people), company, first, last, slug, li_always=self.rng.random() < 0.3)
        self._register(person)
        self._assign_role(person, slugs)
        return person

    def _register(self, person: Person) -> None:
        self.people.append(person)
        person.company.people.append(person.pid)
        self.names_at[(person.company.cid, fold(person.first), fold(person.last))].append(person.pid)
        person.company_forms = self.rng.choices(["mixed", "domain", "name"], [80, 10, 10])[0]

    def _slug(self, first: str, last: str, slugs: set[str]) -> str:
        while True:
            base = f"{first}-{last}".lower().replace(" ", "-")
            if self.rng.random() < 0.7:
                base = anyascii(base)
            slug = f"{base}-{self.rng.randrange(16**6):06x}" if self.rng.random() < 0.8 else base
            if slug not in slugs:
                slugs.add(slug)
                return slug

    def _assign_role(self, person: Person, slugs: set[str]) -> None:
        region = LOCALES[person.company.locale][0]
        roll = self.rng.random()
        if roll < 0.03 and person.slug:
            person.role = "namesake"
            twin = Person(
                len(self.people),
                person.company,
                person.first,
                person.last,
                self._slug(person.first, person.last, slugs),
            )
            self._register(twin)
            twin.role = "namesake"
            for member in (person, twin):
                self._personal(member, region, count=1)
        elif roll < 0.06:
            person.role = "invalid_or_toll_free"
            self._unusable(person, region)
        elif roll < 0.12 and person.company.switchboard:
            person.role = "switchboard_only" if self.rng.random() < 0.4 else "switchboard_vs_personal"
            self._observe(person, self._shared(person.company), sources=self.rng.randint(1, 3))
            if person.role == "switchboard_vs_personal":
                self._personal(person, region, count=1)
        elif roll < 0.17:
            person.role = "corroborated_vs_newer"
            old = self._new_number(person, region, pn.PhoneNumberType.MOBILE)
            new = self._new_number(person, region, pn.PhoneNumberType.MOBILE)
            self._observe(person, old, sources=2, latest=1000)
            self._observe(person, new, sources=1, earliest=1500)
        elif roll < 0.22:
            person.role = "newer_vs_older"
            old = self._new_number(person, region, pn.PhoneNumberType.MOBILE)
            new = self._new_number(person, region, pn.PhoneNumberType.MOBILE)
            self._observe(person, old, sources=1, latest=1000)
            self._observe(person, new, sources=1, earliest=1500)
        elif roll < 0.26 and region not in {"US"}:
            person.role = "mobile_vs_fixed"
            fixed = self._new_number(person, region, pn.PhoneNumberType.FIXED_LINE)
            mobile = self._new_number(person, region, pn.PhoneNumberType.MOBILE)
            self._observe(person, fixed, sources=3, earliest=1500)
            self._observe(person, mobile, sources=1, latest=1000)
        else:
            self._personal(person, region, count=self.rng.choice((1, 1, 1, 2)))
            if person.company.switchboard and self.rng.random() < 0.2:
                self._observe(person, self._shared(person.company), sources=1)

    def _new_number(self, person: Person, region: str, kind: int) -> Number:
        e164, real_type = self.numbers.make(region, kind)
        number = Number(e164, region, PERSONAL.get(real_type), stem=self.numbers.stem_of[e164])
        person.numbers.append(number)
        self.holders[e164].add(person.pid)
        return number

    def _shared(self, company: Company) -> Number:
        assert company.switchboard is not None
        parsed = pn.parse(company.switchboard)
        group = PERSONAL.get(pn.number_type(parsed))
        stem = self.numbers.stem_of[company.switchboard]
        return Number(company.switchboard, pn.region_code_for_number(parsed), group, stem=stem)

    def _personal(self, person: Person, region: str, count: int) -> None:
        for _ in range(count):
            number = self._new_number(person, region, pn.PhoneNumberType.MOBILE)
            self._observe(person, number, sources=self.rng.choice((1, 1, 2)))

    def _unusable(self, person: Person, region: str) -> None:
        if self.rng.random() < 0.5:
            number = self._new_number(person, region, pn.PhoneNumberType.TOLL_FREE)
            number.group = None
        else:
            e164, _ = self.numbers.make(region, pn.PhoneNumberType.MOBILE)
            number = Number(e164[:-5], region, None)  # too short: parses, never valid
            if self.rng.random() < 0.3:
                number.written = "n/a - ask reception"
            person.numbers.append(number)
        self._observe(person, number, sources=self.rng.choice((1, 2)))

    def _observe(
        self, person: Person, number: Number, *, sources: int, earliest: int = 0, latest: int = DAYS
    ) -> None:
        if number not in person.numbers:
            person.numbers.append(number)
            self.holders[number.e164].add(person.pid)
        for source in self.rng.sample(SOURCES, sources):
            day = FIRST_DAY + dt.timedelta(days=self.rng.randint(earliest, latest))
            hour = 0 if self.rng.random() < 0.7 else self.rng.randint(1, 23)
            number.seen.append((source, dt.datetime(day.year, day.month, day.day, hour, 15 if hour else 0)))

    # --- records ---------------------------------------------------------------------------------

    def records(self) -> Iterator[tuple[str, dict[str, str]]]:
        """Every observation as one row, in random order; notes what the store will know as it goes."""
        order = array(
            "q",
            (person.pid << 8 | index for person in self.people for index in range(self._observed(person))),
        )
        self.rng.shuffle(order)
        for key in order:
            person = self.people[key >> 8]
            number, (source, when) = self._observation(person, key & 0xFF)
            row = self._row(person, number, when)
            self._note(person, row, number, source, when)
            yield source, row

    def _note(
        self, person: Person, row: dict[str, str], number: Number, source: str, when: dt.datetime
    ) -> None:
        """What the row tells the store: a row with the profile belongs to the person, one without
        to the weak group of its names at its company (docs/finder.md §2.6)."""
        if "linkedin" in row:
            person.li_rows.append((number, source, when))
            person.li_names |= "first" in row
            person.li_company |= "company" in row or "domain" in row
        else:
            self.weak_rows[(person.company.cid, fold(person.first), fold(person.last))].append(
                (number, source, when)
            )

    def _observed(self, person: Person) -> int:
        return sum(len(number.seen) for number in person.numbers)

    def _observation(self, person: Person, index: int) -> tuple[Number, tuple[str, dt.datetime]]:
        for number in person.numbers:
            if index < len(number.seen):
                return number, number.seen[index]
            index -= len(number.seen)
        raise IndexError(index)

    def _row(self, person: Person, number: Number, when: dt.datetime) -> dict[str, str]:
        rng = self.rng
        row: dict[str, str] = {}
        namesake = person.role == "namesake"
        always_li = namesake or person.li_always
        with_li = person.slug is not None and (always_li or rng.random() < 0.6)
        if with_li and person.slug is not None:
            row["linkedin"] = linkedin_form(rng, person.slug)
            person.li_in_store = True
        # A row without the profile joins its person by names + company, so rows of people whose
        # profile is only on some rows always carry both (else not even a perfect store could link them).
        if not with_li or not always_li or namesake or rng.random() < 0.8:
            row["first"], row["last"] = noisy_name(rng, person.first), noisy_name(rng, person.last)
            person.names_in_store = True
        forms = person.company_forms
        if forms == "mixed":
            forms = rng.choices(["both", "domain", "name"], [70, 15, 15])[0]
            if not person.company.linked:
                forms = "both"
        if namesake:
            forms = "both"
        elif with_li and always_li and rng.random() < 0.1:
            forms = "none"
        if forms in {"both", "name"}:
            row["company"] = company_form(rng, person.company)
            person.forms.add("name")
        if forms in {"both", "domain"}:
            row["domain"] = domain_form(rng, person.company.domain)
            person.forms.add("domain")
        if self.dense and forms != "none":
            forms = "both"
        if forms == "both":
            person.company.linked = True
        row["phone"], row["country"] = phone_form(rng, number)
        row["date"] = when.date().isoformat() if when.hour == 0 else when.strftime("%Y-%m-%dT%H:%M:%SZ")
        return row

    # --- expected answers: docs/finder.md §2-§3 applied to the truth -----------------------------

    def best_number(self, person: Person) -> str | None:
        ranked = []
        for number in person.numbers:
            if number.group is None or number.written is not None:
                continue
            shared = len(self.holders[number.e164]) > 1
            sources = len({source for source, _ in number.seen})
            last_seen = max(when for _, when in number.seen)
            ranked.append(
                ((number.group, shared, -sources, -last_seen.timestamp(), number.e164), number.e164)
            )
        return min(ranked)[1] if ranked else None

    def best_of(self, rows: list[tuple[Number, str, dt.datetime]]) -> str | None:
        """§3 over observations: valid personal lines first, then sources, recency, E.164 (no shared
        lines in dense mode)."""
        merged: dict[str, tuple[Number, set[str], dt.datetime]] = {}
        for number, source, when in rows:
            if number.group is None or number.written is not None:
                continue
            _, sources, last = merged.get(number.e164, (number, set(), when))
            merged[number.e164] = (number, sources | {source}, max(last, when))
        ranked = [
            ((number.group, -len(sources), -last.timestamp(), e164), e164)
            for e164, (number, sources, last) in merged.items()
        ]
        return min(ranked)[1] if ranked else None

    def strong_at(self, cid: int, first: str, last: str) -> list[Person]:
        """The people with a profile the store knows by these names at this company."""
        return [
            self.people[pid]
            for pid in self.names_at.get((cid, fold(first), fold(last)), [])
            if self.people[pid].li_rows and self.people[pid].li_names and self.people[pid].li_company
        ]

    def rows_of(self, person: Person) -> list[tuple[Number, str, dt.datetime]]:
        """The rows of a person with a profile: theirs, and each weak group they alone can own."""
        rows = list(person.li_rows)
        if self.strong_at(person.company.cid, person.first, person.last) == [person]:
            rows += self.weak_rows.get((person.company.cid, fold(person.first), fold(person.last)), [])
        return rows

    def expected_dense(
        self, slug: str | None, first: str | None, last: str | None, company: Company | None
    ) -> str | None:
        if slug is not None and slug in self.li_known:
            return self.best_of(self.rows_of(self.li_known[slug]))
        if first is None or last is None or company is None:
            return None
        strong = self.strong_at(company.cid, first, last)
        if len(strong) > 1 or (strong and slug is not None):
            return None
        if strong:
            return self.best_of(self.rows_of(strong[0]))
        return self.best_of(self.weak_rows.get((company.cid, fold(first), fold(last)), []))

    def reaches(self, person: Person, by: str) -> bool:
        """Whether a search by company ``by`` (domain | company) reaches the person in the store."""
        wanted = "domain" if by == "domain" else "name"
        return wanted in person.forms or (bool(person.forms) and person.company.linked)

    def expected(
        self, slug: str | None, first: str | None, last: str | None, company: Company | None, by: str
    ) -> str | None:
        if self.dense:
            return self.expected_dense(slug, first, last, company)
        if slug is not None and slug in self.li_known:
            return self.best_number(self.li_known[slug])
        if first is None or last is None or company is None:
            return None
        candidates = [
            self.people[pid]
            for pid in self.names_at.get((company.cid, fold(first), fold(last)), [])
            if self.people[pid].names_in_store and self.reaches(self.people[pid], by)
        ]
        if len(candidates) != 1:
            return None
        if slug is not None and candidates[0].li_in_store:
            return None
        return self.best_number(candidates[0])

    # --- searches ----------------------------------------------------------------------------------

    def searches(self, total: int) -> Iterator[dict[str, Any]]:
        self.li_known = {person.slug: person for person in self.people if person.slug and person.li_in_store}
        weights = sum(CATEGORIES.values())
        for category, weight in CATEGORIES.items():
            made = tries = 0
            wanted = max(1, total * weight // weights)
            while made < wanted and tries < wanted * 200:
                tries += 1
                search = getattr(self, f"_s_{category}")()
                if search is not None:
                    made += 1
                    params, expected = search
                    yield {"category": category, "params": params, "expected": expected}

    def _pick(self, role: str | None = "normal", *, li: bool | None = None) -> Person | None:
        person = self.rng.choice(self.people)
        if role is not None and person.role != role:
            return None
        if li is not None and person.li_in_store != li:
            return None
        return person

    def _by_names(
        self,
        person: Person,
        first: str | None = None,
        last: str | None = None,
        company: Company | None = None,
        by: str | None = None,
        slug: str | None = None,
        li_url: str | None = None,
    ) -> tuple[dict[str, str], str | None]:
        company = company or person.company
        by = by or self.rng.choice(("domain", "company"))
        first, last = first or person.first, last or person.last
        params = {"first_name": noisy_name(self.rng, first), "last_name": noisy_name(self.rng, last)}
        if li_url is not None:
            params["linkedin_url"] = li_url
        if by == "domain":
            params["company_domain"] = domain_form(self.rng, company.domain)
        else:
            params["company_name"] = company_form(self.rng, company)
        return params, self.expected(slug, first, last, company, by)

    def _by_linkedin(self, person: Person) -> tuple[dict[str, str], str | None]:
        assert person.slug is not None
        return {"linkedin_url": linkedin_form(self.rng, person.slug)}, self.expected(
            person.slug, None, None, None, ""
        )

    def _s_linkedin(self) -> Search | None:
        person = self._pick(li=True)
        return None if person is None else self._by_linkedin(person)

    def _s_names_domain(self) -> Search | None:
        person = self._pick()
        return None if person is None else self._by_names(person, by="domain")

    def _s_names_company(self) -> Search | None:
        person = self._pick()
        return None if person is None else self._by_names(person, by="company")

    def _s_full_name(self) -> Search | None:
        person = self._pick()
        if person is None:
            return None
        params, expected = self._by_names(person)
        full = f"{params.pop('first_name')} {params.pop('last_name')}"
        params["full_name" if self.rng.random() < 0.5 else "fullname"] = full
        return params, expected

    def _s_noisy_names(self) -> Search | None:
        person = self._pick()
        if person is None:
            return None
        return self._by_names(
            person, shout_or_strip(self.rng, person.first), shout_or_strip(self.rng, person.last)
        )

    def _s_name_only_company_via_domain(self) -> Search | None:
        person = self._pick()
        if person is None or person.forms != {"domain"}:
            return None
        return self._by_names(person, by="company")

    def _s_domain_via_company_name(self) -> Search | None:
        person = self._pick()
        if person is None or person.forms != {"name"}:
            return None
        return self._by_names(person, by="domain")

    def _s_unknown_person(self) -> Search | None:
        company = self.rng.choice(self.companies)
        firsts, lasts = self.pools[company.locale]
        stranger = Person(-1, company, self.rng.choice(firsts), self.rng.choice(lasts), None)
        return self._by_names(stranger)

    def _s_wrong_company(self) -> Search | None:
        person, other = self._pick(), self.rng.choice(self.companies)
        if person is None or other is person.company:
            return None
        return self._by_names(person, company=other)

    def _s_one_letter_off(self) -> Search | None:
        person = self._pick()
        if person is None:
            return None
        first, last = person.first, person.last
        if self.rng.random() < 0.5 and len(first) > 3:
            first = first + "a" if self.rng.random() < 0.5 else first[:-1]
        elif len(last) > 3:
            last = last[:-1] + ("x" if last[-1] != "x" else "y")
        else:
            return None
        return self._by_names(person, first, last)

    def _s_namesake_names(self) -> Search | None:
        person = self._pick("namesake")
        return None if person is None else self._by_names(person)

    def _s_namesake_linkedin(self) -> Search | None:
        person = self._pick("namesake", li=True)
        return None if person is None else self._by_linkedin(person)

    def _s_linkedin_known_overrides_names(self) -> Search | None:
        person, other = self._pick(li=True), self._pick(None)
        if person is None or other is None or person is other or person.slug is None:
            return None
        return self._by_names(other, slug=person.slug, li_url=linkedin_form(self.rng, person.slug))

    def _s_linkedin_unknown_fallback(self) -> Search | None:
        person = self._pick(li=False)
        if person is None:
            return None
        slug = f"unknown-{self.rng.randrange(16**8):08x}"
        return self._by_names(person, slug=slug, li_url=f"https://www.linkedin.com/in/{slug}/")

    def _s_linkedin_unknown_conflict(self) -> Search | None:
        person = self._pick(li=True)
        if person is None:
            return None
        slug = f"someone-else-{self.rng.randrange(16**8):08x}"
        return self._by_names(person, slug=slug, li_url=f"linkedin.com/in/{slug}")

    def _by_role(self, role: str) -> Search | None:
        person = self._pick(role)
        if person is None:
            return None
        if person.li_in_store and self.rng.random() < 0.5:
            return self._by_linkedin(person)
        return self._by_names(person)

    def _s_nickname(self) -> Search | None:
        """A person searched by a short form of their first name (``Mike`` for ``Michael``) + last name +
        company, where nobody of the short form's exact names works: only the nickname fallback
        (docs/finder.md §2.7) finds them. Expected: the person's own answer, as by their names."""
        person = self._pick()
        shorts = () if person is None else short_forms(name_key(person.first))
        if person is None or not shorts:
            return None
        short = self.rng.choice(shorts)
        if self.names_at.get((person.company.cid, fold(short), fold(person.last))):
            return None
        params, expected = self._by_names(person)
        params["first_name"] = noisy_name(self.rng, short.title())
        return params, expected

    def _s_invalid_or_toll_free(self) -> Search | None:
        return self._by_role("invalid_or_toll_free")

    def _s_switchboard_vs_personal(self) -> Search | None:
        return self._by_role("switchboard_vs_personal")

    def _s_switchboard_only(self) -> Search | None:
        return self._by_role("switchboard_only")

    def _s_corroborated_vs_newer(self) -> Search | None:
        return self._by_role("corroborated_vs_newer")

    def _s_newer_vs_older(self) -> Search | None:
        return self._by_role("newer_vs_older")

    def _s_mobile_vs_fixed(self) -> Search | None:
        return self._by_role("mobile_vs_fixed")


Search = tuple[dict[str, str], str | None]


@lru_cache(maxsize=1)
def _short_forms() -> dict[str, tuple[str, ...]]:
    found: dict[str, set[str]] = defaultdict(set)
    for short in nicknames():
        for name in readings(short):
            if len(short) < len(name):
                found[name].add(short)
    return {name: tuple(sorted(shorts)) for name, shorts in found.items()}


def short_forms(first_key: str) -> tuple[str, ...]:
    """The nicknames Trova's table reads as ``first_key`` that are shorter than it (its
    ``readings`` inverted), sorted: ``michael`` -> ``mick``, ``mickey``, ``mike``, ..."""
    return _short_forms().get(first_key, ())


# --- noise ----------------------------------------------------------------------------------------


def linkedin_form(rng: random.Random, slug: str) -> str:
    """Any of the forms a user pastes: scheme or none, www/m/country hosts, case, tails, encodings."""
    name = quote(slug, safe="-") if rng.random() < 0.5 else slug
    host = rng.choice(
        ("www.linkedin.com", "linkedin.com", "fr.linkedin.com", "m.linkedin.com", "uk.linkedin.com")
    )
    scheme = rng.choice(("https://", "http://", ""))
    tail = rng.choice(
        ("", "/", "/", "?trk=public_profile", "/details/experience/", "/recent-activity/all/", "#top")
    )
    url = f"{scheme}{host}/in/{name}{tail}"
    if rng.random() < 0.1:
        url = url.upper() if name.isascii() and "%" not in name else url
    return f"  {url} " if rng.random() < 0.05 else url


def noisy_name(rng: random.Random, name: str) -> str:
    roll = rng.random()
    if roll < 0.1:
        return name.upper()
    if roll < 0.15:
        return name.lower()
    if roll < 0.2:
        return anyascii(name)
    if roll < 0.25 and "-" in name:
        return name.replace("-", " ")
    return name


def shout_or_strip(rng: random.Random, name: str) -> str:
    return rng.choice(
        (anyascii(name).upper(), name.lower().replace("-", " "), anyascii(name).replace(" ", "-"))
    )


def company_form(rng: random.Random, company: Company) -> str:
    name = company.base
    if "&" in name and rng.random() < 0.4:
        name = name.replace("&", "and")
    elif " and " in name and rng.random() < 0.4:
        name = name.replace(" and ", " & ")
    if rng.random() < 0.5:
        suffix = rng.choice(LOCALES[company.locale][2])
        name = f"{name}, {suffix}" if rng.random() < 0.3 else f"{name} {suffix}"
    roll = rng.random()
    if roll < 0.1:
        return name.upper()
    if roll < 0.15:
        return anyascii(name).lower()
    return name


def domain_form(rng: random.Random, domain: str) -> str:
    return rng.choice(
        (
            domain,
            f"www.{domain}",
            f"https://www.{domain}/",
            f"http://{domain}",
            f"https://careers.{domain}/jobs?x=1",
            f"WWW.{domain.upper()}",
            f"https://{domain}/about-us",
            f"info@{domain}" if rng.random() < 0.2 else domain,
        )
    )


@lru_cache(maxsize=4096)
def _templates(stem: tuple[int, str]) -> tuple[str, str]:
    number = pn.parse(f"+{stem[0]}{stem[1]}0000")
    return (
        pn.format_number(number, pn.PhoneNumberFormat.NATIONAL),
        pn.format_number(number, pn.PhoneNumberFormat.INTERNATIONAL),
    )


def formatted(stem: tuple[int, str], ending: str) -> tuple[str, str]:
    """(national, international) forms: the stem's formatting with its last four digits replaced."""
    return tuple(_fill(template, ending) for template in _templates(stem))  # type: ignore[return-value]


def _fill(template: str, ending: str) -> str:
    chars, digits = list(template), list(ending)
    for position in range(len(chars) - 1, -1, -1):
        if not digits:
            break
        if chars[position].isdigit():
            chars[position] = digits.pop()
    return "".join(chars)


def phone_form(rng: random.Random, number: Number) -> tuple[str, str]:
    """(written number, country column): E.164, international, ``00``, dotted, parenthesised or national."""
    if number.written is not None:
        return number.written, number.region
    if number.stem is None:
        return number.e164, number.region
    national, international = formatted(number.stem, number.e164[-4:])
    code = str(number.stem[0])
    form = rng.choice(("e164", "intl", "00", "dotted", "paren", "national", "national", "national_dotted"))
    country = number.region if form.startswith("national") or rng.random() < 0.5 else ""
    if form == "e164":
        return number.e164, country
    if form == "intl":
        return international, country
    if form == "00":
        return "00" + international[1:], country
    if form == "dotted":
        return international.replace(" ", ".").replace("-", "."), country
    if form == "paren":
        rest = international.split(" ", 1)[1] if " " in international else international
        return f"(+{code}) {rest.replace(' ', '-')}", country
    if form == "national_dotted":
        return re.sub(r"[\s\-()]+", ".", national).strip("."), number.region
    return national, number.region


# --- files ----------------------------------------------------------------------------------------

CSV_HEADERS = {
    "crm.csv": (
        "linkedin_url",
        "first_name",
        "last_name",
        "company_name",
        "company_domain",
        "phone",
        "country",
        "observed_at",
    ),
    "vendor_a.tsv": (
        "LinkedIn",
        "First Name",
        "Last Name",
        "Full Name",
        "Company",
        "Website",
        "Mobile",
        "Country Code",
        "Last Seen",
    ),
    "enrich.csv": (
        "li_url",
        "firstname",
        "lastname",
        "Organization",
        "Company URL",
        "Telephone",
        "region",
        "date",
    ),
}


def csv_cells(source: str, row: dict[str, str]) -> list[str]:
    first, last = row.get("first", ""), row.get("last", "")
    full = ""
    if source == "vendor_a.tsv" and first and " " not in first + last and "-" not in first + last:
        full, first, last = f"{first} {last}", "", ""
    values = {
        "crm.csv": (
            row.get("linkedin", ""),
            first,
            last,
            row.get("company", ""),
            row.get("domain", ""),
            row["phone"],
            row["country"],
            row["date"],
        ),
        "vendor_a.tsv": (
            row.get("linkedin", ""),
            first,
            last,
            full,
            row.get("company", ""),
            row.get("domain", ""),
            row["phone"],
            row["country"],
            row["date"],
        ),
        "enrich.csv": (
            row.get("linkedin", ""),
            first,
            last,
            row.get("company", ""),
            row.get("domain", ""),
            row["phone"],
            row["country"],
            row["date"],
        ),
    }[source]
    return [
        quote_cell(value, "\t" if source.endswith(".tsv") else ";" if source == "enrich.csv" else ",")
        for value in values
    ]


def quote_cell(value: str, delimiter: str) -> str:
    if any(char in value for char in (delimiter, '"', "\n", "\r")):
        return '"' + value.replace('"', '""') + '"'
    return value


def json_line(row: dict[str, str]) -> str:
    document = {
        "linkedin": row.get("linkedin"),
        "firstname": row.get("first"),
        "lastname": row.get("last"),
        "company": row.get("company"),
        "domain": row.get("domain"),
        "phone_number": row["phone"],
        "region": row["country"] or None,
        "updated_at": row["date"],
    }
    return json.dumps({key: value for key, value in document.items() if value}, ensure_ascii=False)


def write_files(generator: Generator, out: Path) -> dict[str, int]:
    out.mkdir(parents=True, exist_ok=True)
    handles = {source: (out / source).open("w", encoding="utf-8", newline="") for source in SOURCES}
    counts = dict.fromkeys(SOURCES, 0)
    try:
        handles["crm.csv"].write("\ufeff")
        for source, header in CSV_HEADERS.items():
            delimiter = "\t" if source.endswith(".tsv") else ";" if source == "enrich.csv" else ","
            handles[source].write(delimiter.join(header) + "\r\n")
        for source, row in generator.records():
            counts[source] += 1
            if source == "vendor_b.jsonl":
                handles[source].write(json_line(row) + "\n")
            else:
                delimiter = "\t" if source.endswith(".tsv") else ";" if source == "enrich.csv" else ","
                handles[source].write(delimiter.join(csv_cells(source, row)) + "\r\n")
    finally:
        for handle in handles.values():
            handle.close()
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--searches", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--dense", action="store_true", help="a few large companies full of namesakes")
    args = parser.parse_args(argv)
    started = time.monotonic()
    generator = Generator(args.people, args.seed, dense=args.dense)
    generator.build()
    counts = write_files(generator, args.out)
    with (args.out / "searches.jsonl").open("w", encoding="utf-8") as handle:
        searches = 0
        for search in generator.searches(args.searches):
            handle.write(json.dumps(search, ensure_ascii=False) + "\n")
            searches += 1
    print(
        f"{len(generator.people):,} people at {len(generator.companies):,} companies; "
        f"{sum(counts.values()):,} records in {len(counts)} files; {searches:,} searches; "
        f"{time.monotonic() - started:.1f}s -> {args.out}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
