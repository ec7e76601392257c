"""Values of the privacy domain: subjects, selectors, suppression entries and audit events.

A *subject* is one normalised key that names a person or a number (a LinkedIn profile key, an
E.164 number, or first + last name at a company domain or company key). Suppressions and audit
events are matched by the subject's digest (:attr:`Subject.digest`), so the suppression list never
holds the keys it blocks and an erased number survives in the audit only as a digest.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

SubjectKind = Literal["linkedin", "phone", "name_domain", "name_company"]
Origin = Literal["manual", "file", "erasure"]

_SEPARATOR = "\x1f"


@dataclass(frozen=True, slots=True)
class Subject:
    """One normalised key naming a person (or a number), as the finder compares it."""

    kind: SubjectKind
    parts: tuple[str, ...]

    @property
    def digest(self) -> str:
        """SHA-256 of the kind and the normalised parts: what suppressions and the audit store."""
        return subject_digest(self.kind, self.parts)

    @property
    def label(self) -> str:
        """A masked reminder for operators (``+33••••••78``, ``ad…``, ``A. L. @ example.com``)."""
        if self.kind == "phone":
            return mask_number(self.parts[0])
        if self.kind == "linkedin":
            return f"linkedin {self.parts[0][:2]}…"
        first, last, company = self.parts
        return f"{_initial(first)} {_initial(last)} @ {company}"


@lru_cache(maxsize=262_144)
def subject_digest(kind: str, parts: tuple[str, ...]) -> str:
    """The digest of one subject (cached: the finder screens the same people batch after batch)."""
    return hashlib.sha256(_SEPARATOR.join((kind, *parts)).encode()).hexdigest()


def mask_number(e164: str) -> str:
    """A number with all but its first three and last two characters hidden."""
    if len(e164) <= 5:
        return "•" * len(e164)
    return e164[:3] + "•" * (len(e164) - 5) + e164[-2:]


def _initial(name_key: str) -> str:
    return f"{name_key[:1].upper()}." if name_key else "?"


def linkedin_subject(key: str) -> Subject:
    return Subject("linkedin", (key,))


def phone_subject(e164: str) -> Subject:
    return Subject("phone", (e164,))


def name_subjects(
    first_key: str, last_key: str, *, domains: tuple[str, ...] = (), company_keys: tuple[str, ...] = ()
) -> list[Subject]:
    """The subjects of one name at each of the given company domains and company keys."""
    return [Subject("name_domain", (first_key, last_key, domain)) for domain in domains] + [
        Subject("name_company", (first_key, last_key, key)) for key in company_keys
    ]


@dataclass(frozen=True, slots=True)
class Selector:
    """Who or what an operator means (``--linkedin``, ``--phone``, or names at a company), normalised."""

    linkedin_key: str | None = None
    e164: str | None = None
    first_key: str | None = None
    last_key: str | None = None
    domain: str | None = None
    company_key: str | None = None

    def subjects(self) -> list[Subject]:
        found: list[Subject] = []
        if self.linkedin_key:
            found.append(linkedin_subject(self.linkedin_key))
        if self.e164:
            found.append(phone_subject(self.e164))
        if self.first_key and self.last_key:
            found += name_subjects(
                self.first_key,
                self.last_key,
                domains=(self.domain,) if self.domain else (),
                company_keys=(self.company_key,) if self.company_key else (),
            )
        return found


@dataclass(frozen=True, slots=True)
class Suppression:
    """One entry of the suppression list (``trova suppress list``)."""

    id: int
    kind: SubjectKind
    label: str
    origin: Origin
    note: str | None
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One answer that revealed a number to an account. ``number`` is None once erased."""

    id: int
    account_id: int
    account_name: str
    created_at: dt.datetime
    batch_id: str | None
    search_id: str | None
    person_key: str | None
    number: str | None
    sources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Reveal:
    """A found result about to be recorded by a job step: who saw which number, for which search."""

    account_id: int
    batch_id: str
    search_id: str
    person_key: str | None
    number: str
    sources: tuple[str, ...]
    subjects: tuple[Subject, ...]
