"""The column names a lead or contact file may use for each field, shared by ``trova import`` (the
contact store's readers) and ``trova bulk`` (the bulk tool), so both read the same headers alike.

A header cell is compared after :func:`header_key` (case-folded, ``_``/``-``/spaces as one space), so
``First Name``, ``first_name`` and ``FIRST-NAME`` all name ``first_name``.
"""

from __future__ import annotations

from collections.abc import Mapping

#: Canonical column -> accepted header aliases (docs/import.md §3), compared after :func:`header_key`.
COLUMN_ALIASES: Mapping[str, tuple[str, ...]] = {
    "linkedin_url": ("linkedin_url", "linkedin", "linkedin profile", "profile_url", "li_url"),
    "first_name": ("first_name", "firstname", "first name", "given_name"),
    "last_name": ("last_name", "lastname", "last name", "surname", "family_name"),
    "full_name": ("full_name", "fullname", "name", "full name"),
    "company_name": ("company_name", "company", "organization", "employer", "account name"),
    "company_domain": ("company_domain", "domain", "website", "company_website", "company url"),
    "phone": ("phone", "phone_number", "mobile", "mobile_phone", "telephone", "tel", "number"),
    "country": ("country", "country_code", "region"),
    "source": ("source", "provider", "vendor"),
    "observed_at": ("observed_at", "updated_at", "date", "last_seen"),
}


def header_key(text: str) -> str:
    """A header cell reduced for alias matching: case-folded, ``_``/``-``/spaces as one space."""
    folded = text.strip().strip('"').casefold().replace("_", " ").replace("-", " ")
    return " ".join(folded.split())


#: Reduced header (:func:`header_key`) -> the canonical column it names.
CANONICAL_BY_HEADER: Mapping[str, str] = {
    header_key(alias): column for column, aliases in COLUMN_ALIASES.items() for alias in aliases
}


#: The search fields, as the API names them: the input columns of ``GET /phone/bulk/export``.
SEARCH_COLUMNS = ("linkedin_url", "first_name", "last_name", "full_name", "company_name", "company_domain")

#: The columns ``trova bulk`` adds to each row, which ``GET /phone/bulk/export`` writes too.
RESULT_COLUMNS = (
    "phone", "phone_country", "phone_line_type", "phone_sources", "phone_last_seen", "phone_status"
)
