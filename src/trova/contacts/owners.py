"""Who each weak group belongs to (docs/finder.md §2.6), kept whenever the people of a name change.

A record without a LinkedIn profile names its person only by names at a company. Such records are
kept apart from the people known by a profile, as a *weak group*: a person row without a profile,
one name at one company. Its owner is a pure function of who the store holds, never of the order
in which records arrived:

- a group at a company with a domain belongs to the one person with a profile known by that name
  at that company; with several, it is *ambiguous* and belongs to none; with none, to itself;
- a group at a company known only by a company key (no domain) reaches every company known by
  that key: it belongs to the one person of that name there (a person with a profile, or a group
  at a company with a domain, counted as its own owner); with several, it is ambiguous.

:func:`refresh` recomputes the groups of some names and writes the owners that changed; the import
calls it for the names each chunk touches, the erasure for the names of the people it deletes.
Cost: one name lookup for the names touched, two company lookups and one update of the groups
whose owner changed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from sqlalchemy.engine import Connection

from trova.contacts import lookups
from trova.contacts import repository as repo
from trova.contacts.lookups import NameMatch
from trova.contacts.repository import Owner
from trova.store.sql import distinct_slices

REFRESH_ALL_PAIRS = 2000
"""Names refreshed per step by :func:`refresh_all` (a migration of an existing store)."""


@dataclass(slots=True)
class _Name:
    """The people of one name: those with a profile by company, and the weak groups."""

    strong: dict[int, set[int]] = field(default_factory=dict)
    weak: dict[int, set[int]] = field(default_factory=dict)
    current: dict[int, Owner] = field(default_factory=dict)


def refresh(conn: Connection, pairs: Collection[tuple[str, str]]) -> int:
    """Recompute the owner of every weak group known by one of ``pairs``; returns how many changed."""
    if not pairs:
        return 0
    by_name = _group(lookups.people_named(conn, pairs))
    companies = {
        company
        for name in by_name.values()
        for side in (name.strong, name.weak)
        for c in side.values()
        for company in c
    }
    reach = _reach(conn, companies)
    changed: dict[int, Owner] = {}
    for name in by_name.values():
        for person, owner in _owners(name, reach).items():
            if name.current.get(person) != owner:
                changed[person] = owner
    repo.set_owners(conn, changed)
    return len(changed)


def refresh_all(conn: Connection) -> int:
    """:func:`refresh` every name a weak group is known by (a store built by an earlier version)."""
    pairs = lookups.weak_group_names(conn)
    return sum(refresh(conn, part) for part in distinct_slices(pairs, REFRESH_ALL_PAIRS))


def _group(matches: Iterable[NameMatch]) -> dict[tuple[str, str], _Name]:
    by_name: dict[tuple[str, str], _Name] = {}
    for match in matches:
        name = by_name.setdefault((match.first_key, match.last_key), _Name())
        side = name.weak if match.linkedin_key is None else name.strong
        side.setdefault(match.person_id, set()).add(match.company_id)
        if match.linkedin_key is None:
            name.current[match.person_id] = (match.owner_id, bool(match.ambiguous))
    return by_name


@dataclass(frozen=True, slots=True)
class _Reach:
    """Companies with a domain, and the companies each company's people are counted at."""

    with_domain: frozenset[int]
    of: dict[int, frozenset[int]]


def _reach(conn: Connection, companies: Collection[int]) -> _Reach:
    """A company without a domain reaches every company known by one of its keys (itself included);
    a company with a domain reaches itself and the companies without a domain known by a key of it
    that names no other company with a domain (docs/finder.md §2.4, §2.6)."""
    keys = lookups.company_keys_of(conn, companies)
    named = lookups.companies_by_name(conn, {key for found in keys.values() for key in found})
    everywhere = set(companies) | {company for found in named.values() for company in found}
    with_domain = frozenset(lookups.companies_with_domain(conn, everywhere))
    of: dict[int, frozenset[int]] = {}
    for company in companies:
        reached = {company}
        for key in keys.get(company, ()):
            others = named.get(key, set())
            if company not in with_domain:
                reached |= others
            elif others & with_domain <= {company}:
                reached |= others - with_domain
        of[company] = frozenset(reached)
    return _Reach(with_domain, of)


def _owners(name: _Name, reach: _Reach) -> dict[int, Owner]:
    """The owner of every weak group of one name: first the groups at companies with a domain, then
    those at companies known by a key alone, which count the former among the people they reach."""
    with_domain = reach.with_domain
    strong_at: dict[int, set[int]] = {}
    for person, companies in name.strong.items():
        for company in companies:
            strong_at.setdefault(company, set()).add(person)
    owners: dict[int, Owner] = {}
    identity_at: dict[int, set[int | None]] = {}
    for group, companies in name.weak.items():
        if companies & with_domain:
            reached = {other for company in companies & with_domain for other in reach.of.get(company, ())}
            owners[group] = _decide({p for c in reached for p in strong_at.get(c, ())})
            owner, ambiguous = owners[group]
            for company in companies & with_domain:
                identity_at.setdefault(company, set()).add(None if ambiguous else owner or group)
    for group, companies in name.weak.items():
        if group in owners:
            continue
        reached = {other for company in companies for other in reach.of.get(company, {company})}
        people_: set[int | None] = {p for c in reached for p in strong_at.get(c, ())}
        people_ |= {identity for c in reached for identity in identity_at.get(c, ())}
        owners[group] = (None, True) if None in people_ else _decide({p for p in people_ if p is not None})
    return owners


def _decide(people_: set[int]) -> Owner:
    if len(people_) == 1:
        return next(iter(people_)), False
    return None, len(people_) > 1
