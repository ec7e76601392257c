"""Who or what an operator names: selectors from ``trova suppress|erase|audit`` options and from files.

Selections are normalised exactly as the finder normalises searches (``people.normalise``), so
``--linkedin https://LinkedIn.com/in/Ada/`` names every spelling of that profile.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from trova.contacts.models import RawRow, RowProblem
from trova.contacts.readers import phone_cells, read_rows, sniff
from trova.errors import InvalidSelector
from trova.people.normalise import (
    company_key,
    linkedin_key,
    name_key,
    read_phone,
    registrable_domain,
    split_full_name,
)
from trova.privacy.models import Selector, Subject


def selector_from(
    *,
    linkedin: str | None = None,
    phone: str | None = None,
    country: str | None = None,
    first: str | None = None,
    last: str | None = None,
    domain: str | None = None,
    company: str | None = None,
) -> Selector:
    """The operator's selection, normalised exactly as the finder normalises searches.

    Raises :class:`InvalidSelector` (one readable message) for a value that cannot be read or a
    selection that names nobody.
    """
    selector = Selector(
        linkedin_key=_linkedin(linkedin) if linkedin else None,
        e164=_phone(phone, country) if phone else None,
        first_key=_name(first, "--first") if first else None,
        last_key=_name(last, "--last") if last else None,
        domain=_domain(domain) if domain else None,
        company_key=_company(company) if company else None,
    )
    names_partly = (first or last or domain or company) and not (
        selector.first_key and selector.last_key and (selector.domain or selector.company_key)
    )
    if names_partly or not selector.subjects():
        raise InvalidSelector()
    return selector


def _linkedin(text: str) -> str:
    key = linkedin_key(text)
    if key is None:
        raise InvalidSelector(f"not a LinkedIn profile URL: {text!r}")
    return key


def _phone(text: str, country: str | None) -> str:
    reading = read_phone(text, country.strip().upper() if country else None)
    if reading is None:
        hint = "" if country else " (write it as +<country code>… or give --country)"
        raise InvalidSelector(f"not a phone number: {text!r}{hint}")
    return reading.e164


def _name(text: str, option: str) -> str:
    key = name_key(text)
    if not key:
        raise InvalidSelector(f"{option} is empty once normalised: {text!r}")
    return key


def _domain(text: str) -> str:
    key = registrable_domain(text)
    if key is None:
        raise InvalidSelector(f"not a company domain: {text!r}")
    return key


def _company(text: str) -> str:
    key = company_key(text)
    if key is None:
        raise InvalidSelector(f"not a company name: {text!r}")
    return key


def selectors_from_file(path: Path) -> Iterator[list[Selector] | RowProblem]:
    """What each row of a contact file (docs/import.md §3 columns) names, or why it names nothing.

    Every column that names someone counts: the person (profile, names at the company) is one
    selector, and each number is one more.
    """
    sniffed = sniff(path)
    for row in read_rows(sniffed):
        if isinstance(row, RowProblem):
            yield row
            continue
        selectors = _row_selectors(row)
        yield selectors or RowProblem(
            sniffed.name, row.line, "no person", "no LinkedIn URL, name at a company, or phone number"
        )


def subjects_from_file(path: Path) -> Iterator[list[Subject] | RowProblem]:
    """The subjects of each row of a contact file, or why a row names nothing."""
    for item in selectors_from_file(path):
        yield item if isinstance(item, RowProblem) else [s for selector in item for s in selector.subjects()]


def _row_selectors(row: RawRow) -> list[Selector]:
    fields = row.fields
    profile = linkedin_key(fields.get("linkedin_url", "")) if fields.get("linkedin_url") else None
    first, last = name_key(fields.get("first_name", "")), name_key(fields.get("last_name", ""))
    if not (first and last) and fields.get("full_name"):
        parts = split_full_name(fields["full_name"])
        if parts is not None:
            first, last = name_key(parts[0]), name_key(parts[1])
    domain = registrable_domain(fields["company_domain"]) if fields.get("company_domain") else None
    company = company_key(fields["company_name"]) if fields.get("company_name") else None
    named = bool(first and last and (domain or company))
    person = Selector(
        linkedin_key=profile,
        first_key=first if named else None,
        last_key=last if named else None,
        domain=domain if named else None,
        company_key=company if named else None,
    )
    found = [person] if person.subjects() else []
    hint = fields.get("country", "").strip().upper() or None
    for raw, _kind in phone_cells(fields):
        reading = read_phone(raw, hint if hint and len(hint) == 2 else None)
        if reading is not None:
            found.append(Selector(e164=reading.e164))
    return found
