"""Why a search gets its answer: the keys, the candidate people, their numbers and the deciding rule.

The answer is the finder's own (``Finder.resolve_many`` on the contact store, suppression list
included); the details come from the same functions it uses (identify, then every observation of
the candidates, ranked by ``people.rank``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Connection

from trova.contacts import lookups as contacts_lookups
from trova.contacts import records as contacts_records
from trova.contacts.given_names import company_labels
from trova.finder.service import Finder, Identification, identify_many
from trova.people.keys import name_pairs, person_key
from trova.people.models import Answer, Search
from trova.people.rank import RankedNumber, summarise
from trova.privacy import screening as privacy
from trova.store import Database

RULE_TEXT: dict[str, str] = {
    privacy.SUPPRESSED: "the person or number is on the suppression list: never returned",
    "linkedin": "the LinkedIn profile is on record: its owner is the person (docs/finder.md §2.1)",
    "name_company": "exactly one person has these names at this company (docs/finder.md §2.2)",
    "nickname": (
        "nobody has these names at this company, and exactly one person has a name this first name "
        "stands for as a nickname (docs/finder.md §2.7)"
    ),
    "no_person": "nobody on record matches the profile, or these names at this company (docs/finder.md §2.2)",
    "ambiguous": "several people match these names at this company: never pick one (docs/finder.md §2.2)",
    "linkedin_conflict": (
        "the profile is unknown and the only name match has a different profile: two different people "
        "(docs/finder.md §2.3)"
    ),
    "no_valid_number": "the person was found but holds no valid mobile, fixed, VoIP or personal number "
    "(docs/finder.md §3.2)",
}


@dataclass(frozen=True, slots=True)
class PersonView:
    """One person the search touched, with every number on record, best first."""

    person_key: str
    linkedin_key: str | None
    names: tuple[str, ...]
    company_names: tuple[str, ...]
    company_domains: tuple[str, ...]
    numbers: tuple[RankedNumber, ...]
    identity: str = ""
    """Why this person counts as one candidate (docs/finder.md §2.6): a profile, a weak group of
    their own, or an ambiguous one; with the weak groups they own."""


@dataclass(frozen=True, slots=True)
class Explanation:
    """The search's keys, who it matched (``candidates``), same-named people elsewhere
    (``namesakes``), the answer and the rule that decided it."""

    search: Search
    name_pairs: tuple[tuple[str, str], ...]
    answer: Answer
    rule: str
    candidates: tuple[PersonView, ...]
    namesakes: tuple[PersonView, ...]
    nicknamed: tuple[PersonView, ...] = ()
    """People matched through a nickname of the first name (§2.7), when the names found nobody."""
    nickname_rule: str | None = None
    """What the nickname match alone decided (``name_company``: it was used; ``given_name``: not used,
    the searched first name being on record as a given name at the company)."""
    given_names: tuple[str, ...] = ()
    """With ``given_name``: one sentence per first name and company on record that kept the
    nickname from being used (§2.7)."""

    @property
    def rule_text(self) -> str:
        return RULE_TEXT.get(self.rule, self.rule)

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready form (``trova explain --json``)."""
        return {
            "search": {
                "linkedin_key": self.search.linkedin_key,
                "first_key": self.search.first_key,
                "last_key": self.search.last_key,
                "full_name_key": self.search.full_name_key,
                "company_domain": self.search.company_domain,
                "company_key": self.search.company_key,
                "name_pairs": [list(pair) for pair in self.name_pairs],
            },
            "qualification": self.answer.qualification,
            "number": self.answer.number,
            "country": self.answer.country,
            "line_type": self.answer.line_type,
            "sources": list(self.answer.sources),
            "last_seen": self.answer.last_seen.isoformat() if self.answer.last_seen else None,
            "person_key": self.answer.person_key,
            "rule": self.rule,
            "rule_text": self.rule_text,
            "candidates": [_person_dict(person, self.answer) for person in self.candidates],
            "namesakes": [_person_dict(person, self.answer) for person in self.namesakes],
            "nicknamed": [_person_dict(person, self.answer) for person in self.nicknamed],
            "nickname_rule": self.nickname_rule,
            "given_names": list(self.given_names),
        }


def explain(db: Database, search: Search, *, nicknames: bool = False) -> Explanation:
    """Resolve ``search`` as the finder does from the contact store (upstream sources are never
    asked) and keep every intermediate finding. People on the suppression list are not shown.
    ``nicknames``: ``TROVA_NICKNAMES`` (docs/finder.md §2.7)."""
    result = Finder(db, nicknames=nicknames).resolve_many([search])[0]
    with db.read() as conn:
        identification = identify_many(conn, [search], nicknames=nicknames)[search]
        namesake_ids = _namesakes(conn, search, identification)
        touched = {*identification.candidates, *namesake_ids, *identification.nicknamed}
        hidden = privacy.blocked_people(conn, touched)
        candidates = _people(conn, tuple(p for p in identification.candidates if p not in hidden))
        namesakes = _people(conn, tuple(p for p in namesake_ids if p not in hidden))
        nicknamed = _people(conn, tuple(p for p in identification.nicknamed if p not in hidden))
        given_names = _given_names(conn, identification.given_name_at)
    return Explanation(
        search=search,
        name_pairs=tuple(name_pairs(search)),
        answer=result,
        rule=result.reason,
        candidates=candidates,
        namesakes=namesakes,
        nicknamed=nicknamed if identification.nickname_rule != "name_company" else (),
        nickname_rule=identification.nickname_rule,
        given_names=given_names,
    )


def render_text(explanation: Explanation) -> str:
    """A human-readable explanation, one fact per line."""
    search = explanation.search
    lines = ["Search keys:"]
    lines += [
        f"  {label}: {value}"
        for label, value in (
            ("linkedin_key", search.linkedin_key),
            ("first_key", search.first_key),
            ("last_key", search.last_key),
            ("full_name_key", search.full_name_key),
            ("company_domain", search.company_domain),
            ("company_key", search.company_key),
        )
        if value
    ]
    if len(explanation.name_pairs) > 1:
        tried = "; ".join(f"{first} / {last}" for first, last in explanation.name_pairs)
        lines.append(f"  first / last splits tried: {tried}")
    lines.append(f"Candidates ({len(explanation.candidates)}):")
    lines += [line for person in explanation.candidates for line in _person_lines(person, explanation.answer)]
    if explanation.namesakes:
        lines.append(f"Same names at other companies ({len(explanation.namesakes)}), not candidates:")
        lines += [
            line for person in explanation.namesakes for line in _person_lines(person, explanation.answer)
        ]
    lines += _nickname_lines(explanation)
    result = explanation.answer
    if result.found:
        sources = ", ".join(result.sources)
        detail = f"{result.number} ({result.country}, {result.line_type}, sources: {sources}"
        lines.append(f"Answer: found {detail}, last seen {result.last_seen})")
    else:
        lines.append("Answer: not_found")
    lines.append(f"Rule: {explanation.rule}: {explanation.rule_text}")
    return "\n".join(lines)


NICKNAME_TEXT: dict[str, str] = {
    "name_company": "used: exactly one person matches through a nickname",
    "no_person": "nobody matches through a nickname either",
    "ambiguous": (
        "not used: several people match through nicknames (or a first name one letter away), never pick one"
    ),
    "linkedin_conflict": "not used: the only nickname match has a different profile",
    "given_name": (
        "not used: exactly one person matches through a nickname, but the searched first name is on "
        "record as a given name at the company, so the person searched may simply not be on record"
    ),
}


def _given_names(conn: Connection, pairs: tuple[tuple[str, int], ...]) -> tuple[str, ...]:
    """§2.7: "nickname not used: 'ben' is on record as a given name at acme / acme.com", per pair."""
    labels = company_labels(conn, {company for _first, company in pairs}) if pairs else {}
    return tuple(
        f"nickname not used: {first!r} is on record as a given name at {labels[company]}"
        for first, company in pairs
    )


def _nickname_lines(explanation: Explanation) -> list[str]:
    """§2.7: whether the nicknames of the first name were tried, and what they found."""
    if explanation.nickname_rule is None:
        return []
    verdict = NICKNAME_TEXT.get(explanation.nickname_rule, explanation.nickname_rule)
    lines = [f"Nicknames (the names found nobody): {verdict}"]
    lines += [f"  {sentence}" for sentence in explanation.given_names]
    if explanation.nicknamed:
        lines.append(f"Matched through a nickname ({len(explanation.nicknamed)}), not candidates:")
        lines += [
            line for person in explanation.nicknamed for line in _person_lines(person, explanation.answer)
        ]
    return lines


def _namesakes(conn: Connection, search: Search, identification: Identification) -> tuple[int, ...]:
    """People with the search's names who are not candidates (at other companies)."""
    found = contacts_lookups.people_named(conn, name_pairs(search))
    named = {match.person_id for match in found if match.identity not in identification.candidates}
    return tuple(sorted(named - set(identification.candidates)))


def _people(conn: Connection, person_ids: tuple[int, ...]) -> tuple[PersonView, ...]:
    if not person_ids:
        return ()
    records = contacts_records.describe_people(conn, person_ids)
    observations = contacts_records.all_observations_of(conn, person_ids)
    numbers = {o.e164 for found in observations.values() for o in found if o.e164 is not None}
    shared = contacts_lookups.shared_numbers(conn, numbers)
    owned = contacts_lookups.owned_by(conn, person_ids)
    ambiguous = contacts_lookups.ambiguous_groups(conn, person_ids)
    return tuple(
        PersonView(
            person_key=person_key(person_id),
            linkedin_key=records[person_id].linkedin_key,
            names=tuple(f"{first} / {last}" for first, last in records[person_id].names),
            company_names=records[person_id].company_names,
            company_domains=records[person_id].company_domains,
            numbers=tuple(summarise(observations.get(person_id, ()), shared)),
            identity=_identity(
                records[person_id].linkedin_key, len(owned.get(person_id, ())), person_id in ambiguous
            ),
        )
        for person_id in person_ids
        if person_id in records
    )


def _identity(profile: str | None, owned: int, ambiguous: bool) -> str:
    if ambiguous:
        return "dropped: records without a profile that several people could own (ambiguous weak link)"
    kind = "kept: the person of this profile" if profile else "kept: records without a profile, nobody else's"
    return f"{kind}, with {owned} group(s) of records without a profile they own" if owned else kind


def _number_dict(number: RankedNumber, chosen: bool) -> dict[str, object]:
    return {
        "e164": number.e164,
        "raw": number.raw,
        "line_type": number.line_type,
        "region": number.region,
        "valid": number.valid,
        "shared": number.shared,
        "sources": list(number.sources),
        "first_seen": number.first_seen.isoformat(),
        "last_seen": number.last_seen.isoformat(),
        "observations": number.observations,
        "excluded": number.exclusion,
        "chosen": chosen,
    }


def _person_dict(person: PersonView, result: Answer) -> dict[str, object]:
    return {
        "person_key": person.person_key,
        "linkedin_key": person.linkedin_key,
        "names": list(person.names),
        "company_names": list(person.company_names),
        "company_domains": list(person.company_domains),
        "identity": person.identity,
        "numbers": [_number_dict(number, _is_chosen(person, number, result)) for number in person.numbers],
    }


def _is_chosen(person: PersonView, number: RankedNumber, result: Answer) -> bool:
    return result.found and person.person_key == result.person_key and number.e164 == result.number


def _person_lines(person: PersonView, result: Answer) -> list[str]:
    companies = ", ".join([*person.company_names, *person.company_domains]) or "no company"
    names, profile = "; ".join(person.names) or "-", person.linkedin_key or "-"
    lines = [f"  {person.person_key}  linkedin: {profile}  names: {names}  companies: {companies}"]
    if person.identity:
        lines.append(f"    {person.identity}")
    if not person.numbers:
        lines.append("    (no numbers on record)")
    for number in person.numbers:
        verdict = (
            "CHOSEN"
            if _is_chosen(person, number, result)
            else (f"excluded: {number.exclusion}" if number.exclusion else "eligible")
        )
        lines.append(
            f"    {number.e164 or repr(number.raw):<16} {number.line_type or '-':<20} "
            f"{'valid' if number.valid else 'invalid':<7} {'shared' if number.shared else 'own':<6} "
            f"sources: {', '.join(number.sources)}  "
            f"seen {number.first_seen.date()}..{number.last_seen.date()}  {verdict}"
        )
    return lines
