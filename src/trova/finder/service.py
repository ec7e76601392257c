"""The finder's entry point: ``Finder.resolve_many``, a pipeline of three steps.

(a) :func:`identify_many` finds the person each search names (docs/finder.md §2); (b) :func:`gather`
collects the observations the store holds for them; (c) ``rank.choose`` picks the number
(docs/finder.md §3). Upstream sources plug in between (b) and (c): their observations are ranked by
the same code. Every step is batch-oriented, so a call costs a handful of queries.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from sqlalchemy.engine import Connection

from trova import collector
from trova.contacts import lookups as contacts_lookups
from trova.contacts.given_names import first_names_at
from trova.finder.upstream import Upstream
from trova.people.keys import name_pairs, person_key
from trova.people.models import Answer, Observation, Rule, Search
from trova.people.nicknames import one_letter_away, readings
from trova.people.rank import RankedNumber, choose
from trova.privacy import screening as privacy
from trova.store import Database

NicknameRule = Rule | Literal["given_name"]
"""What a nickname match alone decided (§2.7): a rule of §2.2 to §2.4, or ``given_name``: it found
one person, but the searched first name is on record as a given name at the company."""


@dataclass(frozen=True, slots=True)
class Identification:
    """Who a search names, and by which rule (docs/finder.md §2).

    ``candidates``: the people matching the names at the search's companies (``company_ids``), or
    the LinkedIn profile's owner. When the exact names found nobody and nicknames were tried
    (§2.7): ``nicknamed``, the people matched through a nickname, and ``nickname_rule``, what that
    match alone decided (``name_company``: it was used, and the rule is ``nickname``); with
    ``given_name``, ``given_name_at``: the (first_key, company_id) pairs on record that blocked it.
    """

    person_id: int | None
    rule: Rule
    candidates: tuple[int, ...] = ()
    company_ids: frozenset[int] = field(default_factory=frozenset)
    nicknamed: tuple[int, ...] = ()
    nickname_rule: NicknameRule | None = None
    given_name_at: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class _Lookups:
    linkedin: Mapping[str, int]
    domains: Mapping[str, int]
    company_keys: Mapping[str, set[int]]
    names: Mapping[tuple[str, str], list[contacts_lookups.NameMatch]]
    with_domain: frozenset[int] = frozenset()
    by_domain_key: Mapping[int, frozenset[int]] = field(default_factory=dict)
    owner_profiles: Mapping[int, str | None] = field(default_factory=dict)
    choices: Mapping[Search, tuple[frozenset[int], ...]] = field(default_factory=dict)
    """Each search's :func:`_company_choices`, worked out once per batch."""


_NO_COMPANY: frozenset[int] = frozenset()


def identify_many(
    conn: Connection, searches: Collection[Search], *, nicknames: bool = False
) -> dict[Search, Identification]:
    """docs/finder.md §2 for a batch of distinct searches, in a handful of bulk lookups.

    ``nicknames`` (``TROVA_NICKNAMES``): a search whose names find nobody is tried again with the
    nicknames of its first name, one more lookup for those searches only (§2.7).
    """
    with collector.paused():
        lookups = _lookup(conn, searches)
        found = {search: _identify(search, lookups) for search in searches}
        if nicknames:
            unknown = [search for search, i in found.items() if i.rule == "no_person" and search.has_names]
            found.update(_identify_by_nicknames(conn, unknown, lookups))
    return found


def gather(conn: Connection, person_ids: Iterable[int]) -> tuple[dict[int, list[Observation]], set[str]]:
    """The returnable observations of each person, and which of their numbers are shared lines."""
    with collector.paused():
        observations = contacts_lookups.observations_of(conn, person_ids)
        numbers = {o.e164 for found in observations.values() for o in found if o.e164 is not None}
        return observations, contacts_lookups.shared_numbers(conn, numbers)


def answer(identification: Identification, chosen: RankedNumber | None) -> Answer:
    """The answer for one identified search and the number chosen for that person, if any."""
    if identification.person_id is None:
        return Answer(person_key=None, reason=identification.rule)
    key = person_key(identification.person_id)
    if chosen is None or chosen.e164 is None:
        return Answer(person_key=key, reason="no_valid_number")
    return Answer(
        person_key=key,
        number=chosen.e164,
        country=chosen.region,
        line_type=chosen.returnable_line_type,
        sources=chosen.sources,
        last_seen=chosen.last_seen.date(),
        reason=identification.rule,
        do_not_call=chosen.do_not_call,
    )


class Finder:
    """Resolves normalised searches to answers; pure of batches, credits and jobs.

    ``upstream``: the sources asked for what the local store cannot answer (docs/finder.md §4; the
    :class:`~trova.finder.upstream.Upstream` contract), built by the entry point (``runtime`` and
    the CLI pass ``sources.waterfall.from_settings``); None: the contact store alone.
    ``exclude_do_not_call`` (``TROVA_EXCLUDE_DO_NOT_CALL``): a number a source flags do-not-call is
    never returned (docs/finder.md §3.8). ``nicknames`` (``TROVA_NICKNAMES``): names that find
    nobody are tried with their nicknames (docs/finder.md §2.7).
    """

    def __init__(
        self,
        db: Database,
        upstream: Upstream | None = None,
        *,
        exclude_do_not_call: bool = False,
        nicknames: bool = False,
    ) -> None:
        self.db = db
        self.upstream = upstream
        self.exclude_do_not_call = exclude_do_not_call
        self.nicknames = nicknames

    def resolve_many(self, searches: Sequence[Search]) -> list[Answer]:
        """One answer per search, in order. Identical searches are resolved once (docs/finder.md §5).

        The local store first, then the upstream sources for what it did not answer.
        A suppressed person is never sent upstream, and every answer, whichever source gave it,
        passes ``privacy.screen_answers`` last: no source returns a suppressed person or number.
        """
        distinct = list(dict.fromkeys(searches))
        answers = self.resolve_locally(distinct)
        if self.upstream is not None:
            allowed = [search for search in distinct if answers[search].reason != privacy.SUPPRESSED]
            answers.update(self.upstream.complete(allowed, answers, self.resolve_locally))
        if not any(answer.found for answer in answers.values()):
            return [answers[search] for search in searches]  # only a found answer can be suppressed
        with self.db.read() as conn:
            # Every store person answered went through resolve_locally's screening (upstream answers
            # too: the upstream keeps them in the store and resolves them locally again).
            checked = privacy.screen_answers(conn, list(answers.values()), check_people=False)
            screened = dict(zip(answers, checked, strict=True))
        return [screened[search] for search in searches]

    def resolve_locally(self, searches: Sequence[Search]) -> dict[Search, Answer]:
        """The contact store's answer for each distinct search, in one read transaction: the whole
        batch sees one consistent snapshot of the store."""
        distinct = list(dict.fromkeys(searches))
        with self.db.read() as conn:
            kinds = privacy.active_kinds(conn)
            blocked = privacy.blocked_searches(conn, distinct, kinds)
            identified = identify_many(
                conn, [search for search in distinct if search not in blocked], nicknames=self.nicknames
            )
            people = {i.person_id for i in identified.values() if i.person_id is not None}
            suppressed = privacy.blocked_people(conn, people, kinds)
            observations, shared = gather(conn, people - suppressed)
        answers = {
            search: privacy.suppressed_answer()
            if found.person_id in suppressed
            else answer(found, _choose_for(found, observations, shared, self.exclude_do_not_call))
            for search, found in identified.items()
        }
        answers.update(dict.fromkeys(blocked, privacy.suppressed_answer()))
        return {search: answers[search] for search in distinct}


def _choose_for(
    identification: Identification,
    observations: Mapping[int, list[Observation]],
    shared: Collection[str],
    exclude_do_not_call: bool,
) -> RankedNumber | None:
    if identification.person_id is None:
        return None
    found = observations.get(identification.person_id, ())
    return choose(found, shared, exclude_do_not_call=exclude_do_not_call)


def _lookup(conn: Connection, searches: Collection[Search]) -> _Lookups:
    linkedin = contacts_lookups.people_by_linkedin(conn, {s.linkedin_key for s in searches if s.linkedin_key})
    by_names = [s for s in searches if s.has_names and linkedin.get(s.linkedin_key or "") is None]
    domains = contacts_lookups.companies_by_domain(
        conn, {s.company_domain for s in by_names if s.company_domain}
    )
    domain_keys = contacts_lookups.company_keys_of(conn, set(domains.values()))
    searched_keys = {s.company_key for s in by_names if s.company_key}
    company_keys = contacts_lookups.companies_by_name(
        conn, searched_keys | {key for keys in domain_keys.values() for key in keys}
    )
    keyed = {
        company
        for key in {s.company_key for s in by_names if s.company_domain in domains}
        | {key for keys in domain_keys.values() for key in keys}
        for company in company_keys.get(key or "", ())
    }
    known = set(domains.values())
    with_domain = frozenset(keyed & known) | contacts_lookups.companies_with_domain(conn, keyed - known)
    by_domain_key = {
        company: frozenset({company}) | _name_only_reached(company, keys, company_keys, with_domain)
        for company, keys in domain_keys.items()
    }
    companies = _Lookups(linkedin, domains, company_keys, {}, with_domain, by_domain_key)
    companies = replace(companies, choices=_choices_of(by_names, companies))
    pairs_of = {search: name_pairs(search) for search in by_names}
    names = _people_named(conn, pairs_of, companies)
    return replace(companies, names=names, owner_profiles=_owner_profiles(conn, pairs_of, names))


def _people_named(
    conn: Connection, pairs_of: Mapping[Search, Sequence[tuple[str, str]]], lookups: _Lookups
) -> dict[tuple[str, str], list[contacts_lookups.NameMatch]]:
    """Everyone known by one of each search's name ``pairs_of`` at one of the companies it names,
    by name pair, in one lookup."""
    wanted = {
        (first, last, company)
        for search, pairs in pairs_of.items()
        for choice in lookups.choices.get(search) or _company_choices(search, lookups)
        for company in choice
        for first, last in pairs
    }
    names: dict[tuple[str, str], list[contacts_lookups.NameMatch]] = {}
    for match in contacts_lookups.people_named_at(conn, wanted):
        names.setdefault((match.first_key, match.last_key), []).append(match)
    return names


def _choices_of(searches: Iterable[Search], lookups: _Lookups) -> dict[Search, tuple[frozenset[int], ...]]:
    """:func:`_company_choices` of each search, one value shared by the searches naming the same
    companies: a batch of thousands of searches allocates one per company, not one per search
    (fewer objects for the garbage collector to walk, which showed in the resolution profile)."""
    shared: dict[tuple[str | None, str | None], tuple[frozenset[int], ...]] = {}
    found: dict[Search, tuple[frozenset[int], ...]] = {}
    for search in searches:
        key = (search.company_domain, search.company_key)
        if (choices := shared.get(key)) is None:
            choices = shared[key] = _company_choices(search, lookups)
        found[search] = choices
    return found


def _name_only_reached(
    company: int, keys: set[str], company_keys: Mapping[str, set[int]], with_domain: frozenset[int]
) -> frozenset[int]:
    """The companies known only by a key of ``company`` (no domain) when that key names no other
    company with a domain: a search by ``company``'s domain reaches their people (docs/finder.md §2.4)."""
    return (
        frozenset(
            other
            for key in keys
            if {ref for ref in company_keys.get(key, ()) if ref in with_domain} <= {company}
            for other in company_keys.get(key, ())
            if other not in with_domain
        )
        or _NO_COMPANY
    )


def _owner_profiles(
    conn: Connection,
    pairs_of: Mapping[Search, Sequence[tuple[str, str]]],
    names: Mapping[tuple[str, str], list[contacts_lookups.NameMatch]],
) -> dict[int, str | None]:
    """The profiles of the owners of the weak groups that searches carrying an unknown profile reach
    through the name pairs ``pairs_of`` gives them (§2.3 compares them with the search's)."""
    owners = {
        match.owner_id
        for search, pairs in pairs_of.items()
        if search.linkedin_key
        for pair in pairs
        for match in names.get(pair, ())
        if match.owner_id is not None
    }
    return contacts_lookups.profiles_of(conn, owners) if owners else {}


def _company_choices(search: Search, lookups: _Lookups) -> tuple[frozenset[int], ...]:
    """The companies a search names, most precise first; the first choice where the names match
    anyone decides.

    A domain the store knows names its company, and the companies known only by a key of it that
    names no other domain. Only if nobody there has these names, the companies known by the
    search's company name are tried, except those on record with another domain: they are other
    companies (``Acme``/acme.de is not ``Acme``/acme.com). A domain the store does not know says
    nothing, so the company name alone decides.
    """
    by_name = frozenset(lookups.company_keys.get(search.company_key or "", ())) or _NO_COMPANY
    if search.company_domain and search.company_domain in lookups.domains:
        company = lookups.domains[search.company_domain]
        by_domain = lookups.by_domain_key.get(company) or frozenset({company})
        return (by_domain, (by_name - by_domain - lookups.with_domain) if by_name else _NO_COMPANY)
    return (by_name,)


def _identify(search: Search, lookups: _Lookups) -> Identification:
    if search.linkedin_key and search.linkedin_key in lookups.linkedin:
        owner = lookups.linkedin[search.linkedin_key]
        return Identification(owner, "linkedin", candidates=(owner,))
    if not search.has_names:
        return Identification(None, "no_person")
    return _identify_by(search, name_pairs(search), lookups)


def _identify_by(search: Search, pairs: Iterable[tuple[str, str]], lookups: _Lookups) -> Identification:
    """§2.2 to §2.4 for the people known by one of the name ``pairs``."""
    names = lookups.names
    matches = [m for pair in pairs for m in names.get(pair, ())]
    choices = lookups.choices.get(search) or _company_choices(search, lookups)
    found: list[contacts_lookups.NameMatch] = []
    companies: frozenset[int] = frozenset()
    for choice in choices if matches else ():
        found = [m for m in matches if m.company_id in choice]
        if found:
            companies = choice
            break
    if not found:
        companies = choices[0] if len(choices) == 1 else frozenset().union(*choices)
    owner_profiles = lookups.owner_profiles
    profiles = {
        m.person_id if m.owner_id is None else m.owner_id: (
            m.linkedin_key if m.owner_id is None else owner_profiles.get(m.owner_id)
        )
        for m in found
    }
    candidates = tuple(sorted(profiles))
    rule: Rule = "name_company"
    if not candidates:
        rule = "no_person"
    elif len(candidates) > 1 or any(m.ambiguous for m in found):
        rule = "ambiguous"
    elif search.linkedin_key and profiles[candidates[0]] is not None:
        rule = "linkedin_conflict"
    return Identification(
        candidates[0] if rule == "name_company" else None,
        rule,
        candidates=candidates,
        company_ids=companies,
    )


def nickname_pairs(search: Search) -> list[tuple[str, str]]:
    """The search's name pairs with the first name replaced by each name it stands for as a nickname
    (§2.7); the pairs of the search itself are left out."""
    own = name_pairs(search)
    return sorted({(other, last) for first, last in own for other in readings(first)} - set(own))


def _misspelt_pairs(search: Search) -> list[tuple[str, str]]:
    """The search's name pairs with the first name one letter away (§2.7: they count against a
    nickname match)."""
    own = name_pairs(search)
    return sorted({(other, last) for first, last in own for other in one_letter_away(first)} - set(own))


def _identify_by_nicknames(
    conn: Connection, searches: Sequence[Search], lookups: _Lookups
) -> dict[Search, Identification]:
    """§2.7: the searches whose names found nobody, tried with nicknames in one lookup. A match is
    used only when §2.2 to §2.4 would accept it (one person, no ambiguous group, no other profile)
    and nobody else has the last name and a first name one letter from the searched one, and nobody
    at those companies is on record under the searched first name (two more lookups, for the
    searches a nickname matched); otherwise the search stays ``no_person``, with what the nicknames
    found kept for explain."""
    pairs_of = {search: pairs for search in searches if (pairs := nickname_pairs(search))}
    if not pairs_of:
        return {}
    names = _people_named(conn, pairs_of, lookups)
    nicknamed = replace(lookups, names=names, owner_profiles=_owner_profiles(conn, pairs_of, names))
    tried = {search: _identify_by(search, pairs, nicknamed) for search, pairs in pairs_of.items()}
    matched = {
        search: _misspelt_pairs(search) for search, found in tried.items() if found.rule == "name_company"
    }
    if matched:
        near = _people_named(conn, matched, lookups)
        both = {
            pair: list(dict.fromkeys([*names.get(pair, ()), *near.get(pair, ())])) for pair in {*names, *near}
        }
        counted = replace(nicknamed, names=both)
        for search, misspelt in matched.items():
            wider = _identify_by(search, [*pairs_of[search], *misspelt], counted)
            if wider.person_id != tried[search].person_id:
                tried[search] = replace(wider, person_id=None, rule="ambiguous")
    given = _given_names(conn, [search for search in matched if tried[search].rule == "name_company"], tried)
    found: dict[Search, Identification] = {}
    for search, one in tried.items():
        if blocked := given.get(search):
            found[search] = Identification(
                None, "no_person", nicknamed=one.candidates, nickname_rule="given_name", given_name_at=blocked
            )
        elif one.rule == "name_company":
            found[search] = replace(one, rule="nickname", nicknamed=one.candidates, nickname_rule=one.rule)
        else:
            found[search] = Identification(
                None, "no_person", nicknamed=one.candidates, nickname_rule=one.rule
            )
    return found


def _given_names(
    conn: Connection, searches: Sequence[Search], tried: Mapping[Search, Identification]
) -> dict[Search, tuple[tuple[str, int], ...]]:
    """§2.7: for each search a nickname matched, the (first_key, company_id) pairs of its own first
    names read as nicknames that someone is on record under at the companies of the match, any last
    name (one lookup): there the short form is a given name in its own right, and the person
    searched is as likely missing from the store as on record under the long form."""
    wanted = {
        search: {
            (first, company)
            for first, _last in name_pairs(search)
            if readings(first)
            for company in tried[search].company_ids
        }
        for search in searches
    }
    on_record = (
        first_names_at(conn, {pair for pairs in wanted.values() for pair in pairs}) if wanted else set()
    )
    return {search: tuple(sorted(pairs & on_record)) for search, pairs in wanted.items() if pairs & on_record}
