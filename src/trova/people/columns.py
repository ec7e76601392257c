"""The column names a lead or contact file may use for each field, shared by ``trova import`` (the
contact store's readers) and ``trova bulk`` (the bulk tool), so both read the same headers alike.

A header cell is compared after :func:`header_key` (case-folded, ``_``/``-``/spaces as one space), so
``First Name``, ``first_name`` and ``FIRST-NAME`` all name ``first_name``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from trova.errors import TableError

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


# --- phone columns and their kinds ------------------------------------------------------------------

#: The phone fields of an import: every column mapped to one is read, each number typed by its field
#: (docs/import.md §3.1): ``mobile`` and ``landline`` settle what libphonenumber cannot tell apart,
#: ``fax`` is never returned.
PHONE_FIELDS = ("phone", "mobile", "landline", "fax")
IMPORT_FIELDS = (
    "linkedin_url", "first_name", "last_name", "full_name", "company_name", "company_domain",
    *PHONE_FIELDS, "country", "source", "observed_at",
)
_PHONE_WORDS = frozenset(
    {"phone", "phones", "telephone", "tel", "mobile", "cell", "cellphone", "fax", "landline"}
)
_KIND_WORDS: tuple[tuple[str, frozenset[str]], ...] = (
    ("fax", frozenset({"fax", "telefax"})),
    ("mobile", frozenset({"mobile", "cell", "cellphone", "cellular", "gsm", "portable"})),
    ("landline", frozenset({"landline", "fixed", "office", "work", "home", "business", "corporate", "hq"})),
)
_NOT_A_NUMBER_WORDS = frozenset({
    "type", "ext", "extension", "code", "status", "verified", "valid", "carrier", "opt", "consent",
    "country", "count", "source", "date", "label", "prefix",
})


def phone_kind(header: str) -> str | None:
    """The phone field a header names (``Mobile Phone Number`` -> ``mobile``, ``Work Phone`` ->
    ``landline``, ``Phone`` -> ``phone``), or None when it names no number."""
    key = header_key(header)
    words = set(key.split())
    if CANONICAL_BY_HEADER.get(key) != "phone" and (not words & _PHONE_WORDS or words & _NOT_A_NUMBER_WORDS):
        return None
    for kind, kind_words in _KIND_WORDS:
        if words & kind_words:
            return kind
    return "phone"


def import_field(header: str) -> str | None:
    """The import field a header names by the aliases of docs/import.md §3, phone columns by kind."""
    canonical = CANONICAL_BY_HEADER.get(header_key(header))
    if canonical is not None and canonical != "phone":
        return canonical
    return phone_kind(header)


# --- mappings: column -> field, shared by ``trova bulk`` and ``trova import`` ---------------------------

IGNORE_WORDS = ("", "-", "none", "ignore")


def override_column(item: str, columns: Sequence[str]) -> tuple[str, str | None]:
    """``(field text, the column of ``columns`` that ``COLUMN=FIELD`` names, or None)``.

    Raises :class:`TableError` when ``item`` is not ``COLUMN=FIELD``.
    """
    column_text, sep, field_text = item.partition("=")
    if not sep:
        raise TableError(f"--map {item!r}: expected COLUMN=FIELD")
    if column_text in columns:
        return field_text, column_text
    by_key = {header_key(c): c for c in columns}
    return field_text, by_key.get(header_key(column_text))


def override_field(
    item: str, field_text: str, fields: Sequence[str], aliases: Mapping[str, str]
) -> str | None:
    """The field ``field_text`` names (a field or one of its aliases); None to ignore the column."""
    wanted = field_text.strip().lower()
    if wanted in IGNORE_WORDS:
        return None
    if wanted not in fields:
        wanted = aliases.get(header_key(wanted), wanted)
    if wanted not in fields:
        raise TableError(f"--map {item!r}: unknown field {field_text!r} (fields: {', '.join(fields)})")
    return wanted


def missing_column(item: str, columns: Sequence[str]) -> TableError:
    """The error of a ``--map`` naming a column the file does not have."""
    column_text = item.partition("=")[0]
    return TableError(f"--map {item!r}: no column {column_text!r} (columns: {', '.join(columns)})")


def apply_overrides(
    mapping: Mapping[str, str],
    columns: Sequence[str],
    overrides: Sequence[str],
    fields: Sequence[str],
    aliases: Mapping[str, str],
    *,
    repeatable: Collection[str] = (),
    missing_ok: bool = False,
) -> tuple[dict[str, str], set[str]]:
    """``mapping`` with each ``COLUMN=FIELD`` applied (``COLUMN=-`` ignores the column), and the
    overrides that named a column of ``columns``.

    A field mapped anew leaves the column it had, unless it is ``repeatable`` (the phone fields of an
    import, all read). A column not in ``columns`` is a :class:`TableError` unless ``missing_ok``.
    """
    result = dict(mapping)
    used: set[str] = set()
    for item in overrides:
        field_text, column = override_column(item, columns)
        if column is None:
            if missing_ok:
                override_field(item, field_text, fields, aliases)
                continue
            raise missing_column(item, columns)
        used.add(item)
        wanted = override_field(item, field_text, fields, aliases)
        if wanted is None:
            result.pop(column, None)
            continue
        if wanted not in repeatable:
            for other, taken in list(result.items()):
                if taken == wanted:
                    del result[other]
        result[column] = wanted
    return result, used
