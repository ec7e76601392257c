"""Record linking: which company and which person each new observation of a chunk belongs to.

The policy of the contact store (docs/import.md §8): a record with a LinkedIn profile joins the
person of that profile (or creates them); a record without one joins the *weak group* of its names
at its company (a person without a profile, created the first time), whose owner
``trova.contacts.owners`` then works out from everyone the store holds. A company is found by its
registrable domain, else it is the company known by the record's company key alone (no domain).
Nothing here depends on the order of the records: the same set of records builds the same
companies, people and groups whichever order and chunks they come in. Pure of files and of
privacy: it takes normalised records and a connection, reads through ``trova.contacts.lookups``
and writes through ``trova.contacts.repository``; the import (``trova.ingest``) owns the
transactions.

Usage: ``state = LinkState(); outcome = link(conn, state, records); write(conn, state, now)``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection

from trova.contacts import lookups, owners
from trova.contacts import repository as repo
from trova.contacts.models import ContactRecord, PhoneValue


@dataclass(slots=True)
class LinkOutcome:
    """What linking a chunk did: observations stored and skipped as known, people created and updated."""

    stored: int = 0
    duplicates: int = 0
    created: list[int] = field(default_factory=list)
    updated: set[int] = field(default_factory=set)


@dataclass(slots=True)
class _Observation:
    person: int
    phone: PhoneValue
    record: ContactRecord


@dataclass(slots=True)
class LinkState:
    """People and companies as the chunk sees them: loaded from the store, extended by new ones.

    New people and companies get negative refs until :func:`write` inserts them and learns their ids.
    For a dry run one state lives across all chunks, so later chunks see what earlier ones would add.
    """

    domain_company: dict[str, int] = field(default_factory=dict)
    name_companies: dict[str, set[int]] = field(default_factory=dict)
    company_has_domain: dict[int, bool] = field(default_factory=dict)
    li_person: dict[str, int] = field(default_factory=dict)
    person_li: dict[int, str | None] = field(default_factory=dict)
    by_name: dict[tuple[str, str, int], set[int]] = field(default_factory=dict)
    seen_keys: set[str] = field(default_factory=set)
    names_read: set[tuple[str, str]] = field(default_factory=set)
    weak_names_read: set[tuple[str, str]] = field(default_factory=set)
    loaded_domains: set[str] = field(default_factory=set)
    loaded_names: set[str] = field(default_factory=set)
    loaded_li: set[str] = field(default_factory=set)
    last_token: int = 0
    new_companies: list[int] = field(default_factory=list)
    new_people: list[int] = field(default_factory=list)
    attach_li: dict[int, str] = field(default_factory=dict)
    alias: dict[int, int] = field(default_factory=dict)
    merges: list[tuple[int, int]] = field(default_factory=list)
    name_links: list[tuple[str, int]] = field(default_factory=list)
    domain_links: list[tuple[str, int]] = field(default_factory=list)
    person_names: list[tuple[int, str, str]] = field(default_factory=list)
    person_companies: list[tuple[int, int]] = field(default_factory=list)
    observations: list[_Observation] = field(default_factory=list)

    def token(self) -> int:
        self.last_token -= 1
        return self.last_token

    def find(self, ref: int) -> int:
        """The person (or company) a ref stands for now, after merges."""
        while ref in self.alias:
            ref = self.alias[ref]
        return ref


def link(conn: Connection, state: LinkState, records: list[ContactRecord]) -> LinkOutcome:
    """Resolve the company and person of every new observation in ``records`` against ``state``.

    What the store knows is read through ``conn``; nothing is written (see :func:`write`).
    """
    outcome = LinkOutcome()
    fresh = _drop_known_observations(conn, state, records, outcome)
    _load_companies(conn, state, fresh)
    _load_people(conn, state, fresh)
    for record, phones in fresh:
        link_ref, match_refs = _resolve_company(state, record)
        person = _resolve_person(state, record, link_ref, match_refs, outcome)
        state.observations.extend(_Observation(person, phone, record) for phone in phones)
        outcome.updated.add(person)
        outcome.stored += len(phones)
    outcome.updated = {ref for ref in map(state.find, outcome.updated) if ref > 0}
    outcome.created = [ref for ref in outcome.created if ref not in state.alias]
    return outcome


def _drop_known_observations(
    conn: Connection, state: LinkState, records: list[ContactRecord], outcome: LinkOutcome
) -> list[tuple[ContactRecord, list[PhoneValue]]]:
    keys = [phone.dedupe_key for record in records for phone in record.phones]
    known = repo.existing_dedupe_keys(conn, [key for key in keys if key not in state.seen_keys])
    known |= state.seen_keys
    fresh: list[tuple[ContactRecord, list[PhoneValue]]] = []
    for record in records:
        phones = [phone for phone in record.phones if phone.dedupe_key not in known]
        known.update(phone.dedupe_key for phone in phones)
        outcome.duplicates += len(record.phones) - len(phones)
        if phones:
            fresh.append((record, phones))
    state.seen_keys.update(phone.dedupe_key for _, phones in fresh for phone in phones)
    return fresh


def _load_companies(
    conn: Connection, state: LinkState, fresh: list[tuple[ContactRecord, list[PhoneValue]]]
) -> None:
    domains = {record.domain for record, _ in fresh if record.domain} - state.loaded_domains
    names = {record.company_key for record, _ in fresh if record.company_key} - state.loaded_names
    for domain, company in lookups.companies_by_domain(conn, domains).items():
        state.domain_company.setdefault(domain, company)
        state.company_has_domain[company] = True
    by_name = lookups.companies_by_name(conn, names)
    with_domain = lookups.companies_with_domain(conn, {ref for refs in by_name.values() for ref in refs})
    for name_key, refs in by_name.items():
        state.name_companies.setdefault(name_key, set()).update(refs)
        for company in refs:
            state.company_has_domain[company] = (
                state.company_has_domain.get(company, False) or company in with_domain
            )
    state.loaded_domains |= domains
    state.loaded_names |= names


def _load_people(
    conn: Connection, state: LinkState, fresh: list[tuple[ContactRecord, list[PhoneValue]]]
) -> None:
    li_keys = {record.linkedin_key for record, _ in fresh if record.linkedin_key} - state.loaded_li
    for key, person in lookups.people_by_linkedin(conn, li_keys).items():
        state.li_person.setdefault(key, person)
        state.person_li.setdefault(person, key)
    state.loaded_li |= li_keys
    named = [record for record, _ in fresh if record.has_names]
    companies = {ref for record in named for ref in _known_companies(state, record) if ref > 0}
    if not companies:
        return
    pairs = {(record.first_key, record.last_key) for record in named}
    state.names_read |= pairs
    for known in lookups.people_named(conn, pairs):
        if known.linkedin_key is not None:
            continue
        state.weak_names_read.add((known.first_key, known.last_key))
        if known.company_id not in companies:
            continue
        name = (known.first_key, known.last_key, known.company_id)
        state.by_name.setdefault(name, set()).add(known.person_id)
        state.person_li.setdefault(known.person_id, known.linkedin_key)
        if known.linkedin_key:
            state.li_person.setdefault(known.linkedin_key, known.person_id)


def _known_companies(state: LinkState, record: ContactRecord) -> set[int]:
    refs = set(state.name_companies.get(record.company_key, ())) if record.company_key else set()
    if record.domain and record.domain in state.domain_company:
        refs.add(state.domain_company[record.domain])
    return refs


def _resolve_company(state: LinkState, record: ContactRecord) -> tuple[int | None, frozenset[int]]:
    """(the company to link the person to, the companies whose weak groups the record may join).

    A domain names one company (a new one the first time), which then takes the record's company
    key too. A company key without a domain names the company known by that key and by no domain
    (a new one the first time): companies with a domain are never joined by their key, since the
    same name may stand for two companies (docs/finder.md §2.6).
    """
    if record.domain:
        company = _company_for_domain(state, record.domain)
        if record.company_key:
            _link_name(state, record.company_key, company)
        return company, frozenset({company})
    if not record.company_key:
        return None, frozenset()
    name_only = _name_only(state, record.company_key)
    company = max(name_only) if name_only else _new_company(state)
    _link_name(state, record.company_key, company)
    return company, frozenset({company})


def _name_only(state: LinkState, key: str) -> set[int]:
    """Companies known by ``key`` and by no domain."""
    return {ref for ref in state.name_companies.get(key, ()) if not state.company_has_domain.get(ref)}


def _company_for_domain(state: LinkState, domain: str) -> int:
    company = state.domain_company.get(domain)
    if company is not None:
        return company
    company = _new_company(state)
    state.domain_company[domain] = company
    state.company_has_domain[company] = True
    state.domain_links.append((domain, company))
    return company


def _new_company(state: LinkState) -> int:
    company = state.token()
    state.new_companies.append(company)
    state.company_has_domain[company] = False
    return company


def _link_name(state: LinkState, key: str, company: int) -> None:
    keyed = state.name_companies.setdefault(key, set())
    if company not in keyed:
        keyed.add(company)
        state.name_links.append((key, company))


def _resolve_person(
    state: LinkState, record: ContactRecord, company: int | None, match: frozenset[int], outcome: LinkOutcome
) -> int:
    """The person of a record: the owner of its LinkedIn profile (created the first time); without a
    profile, the weak group of its names at its company (created the first time).

    A record never joins a person of another kind: who owns a weak group is decided from the whole
    store by ``trova.contacts.owners``, not by the record that happened to arrive first.
    """
    key = record.linkedin_key
    if key is not None:
        known = state.li_person.get(key)
        person = state.find(known) if known is not None else _new_person(state, key, outcome)
    else:
        person = _weak_group(state, record, match) or _new_person(state, None, outcome)
    _add_links(state, person, record, company)
    return state.find(person)


def _weak_group(state: LinkState, record: ContactRecord, match: frozenset[int]) -> int | None:
    candidates = _merged(state, _candidates(state, record, match))
    return next(iter(candidates)) if len(candidates) == 1 else None


def _candidates(state: LinkState, record: ContactRecord, match: frozenset[int]) -> set[int]:
    if not (record.first_key and record.last_key):
        return set()
    found: set[int] = set()
    for company in match:
        found |= {
            state.find(ref) for ref in state.by_name.get((record.first_key, record.last_key, company), ())
        }
    return found


def _merged(state: LinkState, people_: set[int]) -> set[int]:
    """People with the same names at the same company are one person unless two profiles say otherwise.

    Records reach the store in any order: a row without a profile may create a person before the
    row that carries both the profile and the company arrives. Once those two meet under one name
    and company, they are merged (what a re-import in the other order would have built).
    """
    if len(people_) < 2:
        return people_
    profiles = {state.person_li.get(person) for person in people_} - {None}
    if len(profiles) > 1:
        return people_
    survivor = _survivor(state, people_)
    for absorbed in people_ - {survivor}:
        _absorb(state, survivor, absorbed)
    return {survivor}


def _survivor(state: LinkState, people_: set[int]) -> int:
    stored = sorted(person for person in people_ if person > 0)
    if not stored:
        with_profile = [person for person in people_ if state.person_li.get(person)]
        return with_profile[0] if with_profile else max(people_)
    with_profile = [person for person in stored if state.person_li.get(person)]
    return with_profile[0] if with_profile else stored[0]


def _absorb(state: LinkState, survivor: int, absorbed: int) -> None:
    state.alias[absorbed] = survivor
    profile = state.person_li.get(absorbed)
    if profile is not None and state.person_li.get(survivor) is None:
        state.person_li[absorbed] = None
        state.attach_li.pop(absorbed, None)
        _attach_profile(state, survivor, profile)
    if absorbed > 0:
        state.merges.append((survivor, absorbed))


def _attach_profile(state: LinkState, person: int, key: str) -> None:
    state.person_li[person] = key
    state.li_person[key] = person
    if person > 0:
        state.attach_li[person] = key


def _new_person(state: LinkState, key: str | None, outcome: LinkOutcome) -> int:
    person = state.token()
    state.new_people.append(person)
    state.person_li[person] = key
    if key is not None:
        state.li_person[key] = person
    outcome.created.append(person)
    return person


def _add_links(state: LinkState, person: int, record: ContactRecord, company: int | None) -> None:
    if record.first_key and record.last_key:
        state.person_names.append((person, record.first_key, record.last_key))
        if company is not None and state.person_li.get(person) is None:
            namesakes = state.by_name.setdefault((record.first_key, record.last_key, company), set())
            namesakes.add(person)
            _merged(state, {state.find(ref) for ref in namesakes})
    if company is not None:
        state.person_companies.append((person, company))


def write(conn: Connection, state: LinkState, now: dt.datetime) -> None:
    """Write what linking added to ``state``: new companies and people first (for their ids), then
    merged people, links and numbers, and last the owners of the weak groups the chunk touched."""
    company_ids = repo.insert_companies(conn, len(state.new_companies), now)
    ids: dict[int, int] = dict(zip(state.new_companies, company_ids, strict=True))
    new_people = [token for token in state.new_people if token not in state.alias]
    people_ids = repo.insert_people(conn, [state.person_li[token] for token in new_people], now)
    ids.update(zip(new_people, people_ids, strict=True))

    def person(ref: int) -> int:
        ref = state.find(ref)
        return ref if ref > 0 else ids[ref]

    def company(ref: int) -> int:
        return ref if ref > 0 else ids[ref]

    for survivor, absorbed in state.merges:
        repo.merge_person(conn, person(survivor), absorbed)
    repo.set_linkedin_keys(conn, {person(ref): key for ref, key in state.attach_li.items()}, now)
    repo.add_company_domains(conn, [(domain, company(ref)) for domain, ref in state.domain_links])
    repo.add_company_names(conn, [(key, company(ref)) for key, ref in state.name_links])
    repo.add_person_names(conn, [(person(ref), first, last) for ref, first, last in state.person_names])
    repo.add_person_companies(conn, [(person(p), company(c)) for p, c in state.person_companies])
    repo.add_observations(
        conn, [_observation_row(person(obs.person), obs, now) for obs in state.observations]
    )
    repo.touch_people(
        conn, {person(obs.person) for obs in state.observations if state.find(obs.person) > 0}, now
    )
    linked = {state.find(ref) for ref, _company in state.person_companies}
    stored_profiled = {ref for ref in linked if ref > 0 and state.person_li.get(ref)}
    owners.refresh(conn, _touched_names(conn, state, stored_profiled, company))


def _touched_names(
    conn: Connection, state: LinkState, stored_profiled: set[int], company: Callable[[int], int]
) -> set[tuple[str, str]]:
    """The names whose weak groups may have a new owner: the names of the people with a profile the
    chunk linked (every name of theirs when they are stored: they may have gained a company), of the
    weak groups it created or merged, and of the groups at every company known by a key that gained
    a domain: a group at a company without a domain reaches more companies, and one at a company
    with a domain reaches the key's companies without one, or no longer does once the key names a
    second domain (found at 200,000 people: a domain gaining the key of its profiled namesake's
    company left the group there without its owner in one import order). A record joining an existing group
    changes no owner, and neither does anything under a name no weak group is known by: linking
    read everyone of the chunk's names (``names_read``), so a name without a weak group before the
    chunk and without one created by it is left out of the owner refresh."""
    merged = {state.find(survivor) for survivor, _absorbed in state.merges}

    def changes(ref: int) -> bool:
        ref = state.find(ref)
        return ref < 0 or ref in merged or state.person_li.get(ref) is not None

    names = {(first, last) for ref, first, last in state.person_names if changes(ref)}
    names |= lookups.names_of(conn, stored_profiled)
    weak_now = {
        (first, last)
        for ref, first, last in state.person_names
        if state.person_li.get(state.find(ref)) is None
    }
    names -= state.names_read - state.weak_names_read - weak_now
    keys_with_new_domain = {key for key, ref in state.name_links if state.company_has_domain.get(ref)}
    reaching = {company(ref) for key in keys_with_new_domain for ref in state.name_companies.get(key, ())}
    return names | lookups.weak_names_at(conn, reaching)


def _observation_row(person_id: int, observation: _Observation, now: dt.datetime) -> tuple[Any, ...]:
    phone, record = observation.phone, observation.record
    return (
        person_id,
        phone.e164,
        phone.valid,
        phone.line_type,
        phone.region,
        phone.raw,
        record.country_hint,
        record.source,
        record.observed_at,
        now,
        phone.dedupe_key,
        phone.do_not_call,
    )
