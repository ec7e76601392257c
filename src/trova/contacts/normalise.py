"""Rows to normalised records: one row (:func:`normalise_row`), a chunk, or a whole file in chunks.

A file is read and normalised from its first row to its last, so rows, line numbers and problems
come out exactly as a plain sequential read gives them. Pure of the database: the import
(``trova.ingest``) decides where this runs (here, or in reader processes beside the writer) and
what happens to the records.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from trova.contacts.models import ContactRecord, PhoneValue, RawRow, RowProblem
from trova.contacts.readers import SniffedFile, phone_cells, read_rows
from trova.people.normalise import (
    company_key,
    linkedin_key,
    name_key,
    parse_phone,
    registrable_domain,
    split_full_name,
)
from trova.people.rank import stated_line_type

KEY_LENGTH = 255
NAME_KEY_LENGTH = 200
SOURCE_LENGTH = 200
RAW_LENGTH = 500

Normalised = list[ContactRecord | RowProblem]


@dataclass(frozen=True, slots=True)
class FileToRead:
    """A sniffed file and the source its rows without a ``source`` cell are credited to."""

    file: SniffedFile
    default_source: str


def file_chunks(item: FileToRead, now: dt.datetime, size: int) -> Iterator[Normalised]:
    """A file's rows, read and normalised, in chunks of at most ``size`` rows, in order."""
    for rows in _chunks(read_rows(item.file), size):
        yield normalise_chunk(item.file.name, item.default_source, rows, now)


def _chunks(rows: Iterator[RawRow | RowProblem], size: int) -> Iterator[list[RawRow | RowProblem]]:
    chunk: list[RawRow | RowProblem] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --- one row ---------------------------------------------------------------------------------------


def normalise_chunk(
    file_name: str, default_source: str, rows: Sequence[RawRow | RowProblem], now: dt.datetime
) -> Normalised:
    """Each row as a normalised record, or the problem that makes it unusable."""
    return [
        row if isinstance(row, RowProblem) else normalise_row(file_name, default_source, row, now)
        for row in rows
    ]


def normalise_row(
    file_name: str, default_source: str, row: RawRow, now: dt.datetime
) -> ContactRecord | RowProblem:
    """One row normalised per docs/finder.md §1; a problem when it lacks a number or a person or
    has a bad date."""
    fields = row.fields
    numbers = phone_cells(fields)
    if not numbers:
        return RowProblem(file_name, row.line, "no number")
    person = _person_keys(fields)
    if isinstance(person, str):
        return RowProblem(file_name, row.line, "no person", person)
    observed = _observed_at(fields.get("observed_at", ""), now)
    if observed is None:
        return RowProblem(file_name, row.line, "bad date", repr(fields.get("observed_at", ""))[:60])
    li_key, first, last, domain, company = person
    source = (fields.get("source") or default_source)[:SOURCE_LENGTH]
    hint = _country_hint(fields.get("country", ""))
    identity = f"li:{li_key}" if li_key else f"nm:{first}|{last}|{domain or 'co:' + str(company)}"
    day = observed.date().isoformat() if fields.get("observed_at") else ""
    phones = tuple(_phone_value(raw, kind, hint, source, identity, day) for raw, kind in numbers)
    return ContactRecord(
        line=row.line,
        linkedin_key=li_key,
        first_key=first,
        last_key=last,
        company_key=company,
        domain=domain,
        phones=phones,
        country_hint=hint,
        source=source,
        observed_at=observed,
    )


PersonKeys = tuple[str | None, str, str, str | None, str | None]


def _person_keys(fields: dict[str, str] | Any) -> PersonKeys | str:
    """(linkedin key, first key, last key, domain, company key), or why the row names nobody."""
    li_text = fields.get("linkedin_url", "")
    li_key = linkedin_key(li_text) if li_text else None
    if li_key is not None and len(li_key) > KEY_LENGTH:
        li_key = None
    first, last = _name_keys(fields)
    domain_text, company_text = fields.get("company_domain", ""), fields.get("company_name", "")
    domain = registrable_domain(domain_text) if domain_text else None
    company = company_key(company_text) if company_text else None
    domain = domain if domain and len(domain) <= KEY_LENGTH else None
    company = company[:KEY_LENGTH] if company else None
    if li_key is None and not (first and last and (domain or company)):
        return _why_nobody(li_text, first, last)
    return li_key, first, last, domain, company


def _name_keys(fields: dict[str, str] | Any) -> tuple[str, str]:
    first, last = name_key(fields.get("first_name", "")), name_key(fields.get("last_name", ""))
    if not (first and last) and fields.get("full_name"):
        parts = split_full_name(fields["full_name"])
        if parts is not None:
            first, last = name_key(parts[0]), name_key(parts[1])
    return first[:NAME_KEY_LENGTH], last[:NAME_KEY_LENGTH]


def _why_nobody(li_text: str, first: str, last: str) -> str:
    if li_text:
        return "linkedin_url is not a profile URL"
    if first and last:
        return "names without a company name or domain"
    return "no LinkedIn URL and no first and last name"


def _observed_at(text: str, now: dt.datetime) -> dt.datetime | None:
    """The observation time as naive UTC; import time when empty; None when unparseable."""
    text = text.strip()
    if not text:
        return now
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def _country_hint(text: str) -> str | None:
    code = text.strip().upper()
    return code if len(code) == 2 and code.isalpha() and code.isascii() else None


def _phone_value(raw: str, kind: str, hint: str | None, source: str, identity: str, day: str) -> PhoneValue:
    """One number, typed by libphonenumber and by the kind of its column (``mobile``, ``landline``,
    ``fax``; ``phone`` says nothing), as an upstream label types its numbers (docs/finder.md §4.5)."""
    reading = parse_phone(raw, hint)
    number = reading.e164 if reading else f"raw:{raw}"
    digest = hashlib.blake2b(f"{source}\x1f{identity}\x1f{number}\x1f{day}".encode(), digest_size=16)
    if reading is None:
        return PhoneValue(raw[:RAW_LENGTH], None, False, None, None, digest.hexdigest())
    line_type = reading.line_type if kind == "phone" else stated_line_type(reading.line_type, kind)
    return PhoneValue(
        raw[:RAW_LENGTH], reading.e164, reading.valid, line_type, reading.region, digest.hexdigest()
    )
