"""Normalisers: every input the finder compares, reduced to one key (docs/finder.md §1).

All functions are pure and never raise on any string input (``search_from_params`` raises only its
two documented client errors). The import uses them on every row, so the costly ones (domains,
company keys, phone numbers) are cached.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import cast
from urllib.parse import unquote, urlsplit

import phonenumbers
import tldextract
from anyascii import anyascii
from nameparser import HumanName
from nameparser.config import CONSTANTS
from phonenumbers.phonenumberutil import _number_type_helper

from trova.errors import InvalidLinkedinUrl, MissingMandatoryProperty
from trova.people.models import Search


@dataclass(frozen=True, slots=True)
class PhoneReading:
    """One phone number as libphonenumber reads it."""

    e164: str
    valid: bool
    line_type: str
    region: str | None


# --- LinkedIn -------------------------------------------------------------------------------------

_LINKEDIN_HOST = "linkedin.com"
_PROFILE_SEGMENT = "in"
_MOBILE_PREFIXES = frozenset({"mwlite"})
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


def _url_parts(text: str) -> tuple[str, str] | None:
    """(lower-cased host, path) of a URL written with or without a scheme; None if unreadable."""
    stripped = text.strip()
    if not stripped:
        return None
    if not _SCHEME.match(stripped):
        stripped = "//" + stripped.lstrip("/")
    try:
        parts = urlsplit(stripped)
        host = parts.hostname
    except ValueError:
        return None
    if not host:
        return None
    return host.rstrip("."), parts.path


def _is_linkedin_host(host: str) -> bool:
    return host == _LINKEDIN_HOST or host.endswith("." + _LINKEDIN_HOST)


_PLAIN_PROFILE_URL = re.compile(r"(?:https?://)?(?:www\.)?linkedin\.com/in/([^/?#\s]+)/?", re.IGNORECASE)
"""The common form, read without a full URL parse (same result as the general path)."""


@lru_cache(maxsize=65_536)
def linkedin_key(url: str) -> str | None:
    """The profile key of a LinkedIn profile URL: the lower-cased, percent-decoded vanity name.

    Accepts any scheme or none, any case, any ``linkedin.com`` subdomain, and ignores query strings,
    fragments, trailing slashes and trailing path parts. None for anything that is not a profile
    URL (other hosts, company/search/feed pages, ``/in/`` with no name).
    """
    plain = _PLAIN_PROFILE_URL.fullmatch(url.strip())
    if plain is not None:
        return _vanity(plain.group(1))
    parts = _url_parts(url)
    if parts is None or not _is_linkedin_host(parts[0]):
        return None
    segments = [segment for segment in parts[1].split("/") if segment]
    if segments and segments[0].lower() in _MOBILE_PREFIXES:
        segments = segments[1:]
    if len(segments) < 2 or segments[0].lower() != _PROFILE_SEGMENT:
        return None
    return _vanity(segments[1])


def _vanity(segment: str) -> str | None:
    vanity = unquote(segment, errors="replace").strip().lower()
    if not vanity or "/" in vanity:
        return None
    return unicodedata.normalize("NFC", vanity)


# --- names ----------------------------------------------------------------------------------------

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def _ascii_fold(text: str) -> str:
    """Case-folded ASCII transliteration (``Élodie`` -> ``elodie``, ``Straße`` -> ``strasse``)."""
    return anyascii(unicodedata.normalize("NFKC", text).casefold()).lower()


@lru_cache(maxsize=262_144)
def name_key(text: str) -> str:
    """A person's name folded for comparison: ASCII, lower-case, separators collapsed to one space.

    Hyphens, apostrophes, dots and any other non-alphanumeric run are one separator, so
    ``Jean-Pierre`` = ``jean pierre`` = ``JEAN PIERRE`` and ``Élodie`` = ``Elodie``. "" if empty.
    """
    return _NON_ALNUM.sub(" ", _ascii_fold(text)).strip()


_NAME_PARTICLES = frozenset(
    word
    for words in (
        CONSTANTS.titles,
        CONSTANTS.prefixes,
        CONSTANTS.suffix_acronyms,
        CONSTANTS.suffix_not_acronyms,
        CONSTANTS.conjunctions,
    )
    for word in words
)
_NICKNAME_MARKS = re.compile(r"[,()\[\]\"“”«»]")
_ROMAN = cast("re.Pattern[str]", CONSTANTS.regexes.roman_numeral)  # III, IX: a suffix to nameparser


def _is_plain_name(words: list[str]) -> bool:
    """True when nameparser would read the words as first, middle..., last with nothing dropped."""
    plain = not any(word.lower().strip(".") in _NAME_PARTICLES or _ROMAN.match(word) for word in words)
    return len(words) >= 2 and plain


@lru_cache(maxsize=65_536)
def split_full_name(full: str) -> tuple[str, str] | None:
    """The raw (first, last) of a full name, via nameparser; None unless both parts are present.

    Middle names join the first name (``Maria Júlia Silva`` -> ``Maria Júlia`` / ``Silva``); titles
    and suffixes (``Dr.``, ``Jr.``) are dropped; ``Last, First`` is understood. When nameparser
    leaves a part empty (a first name it takes for a title, e.g. ``Judge``), the last word is the
    last name and the words before it the first name. Plain names (no comma, quotes, title, suffix,
    Roman numeral, particle or conjunction) skip nameparser, which would split them the same way 100x slower.
    """
    text = " ".join(full.split())
    if not text:
        return None
    words = text.split(" ")
    if not _NICKNAME_MARKS.search(text) and _is_plain_name(words):
        first, last = " ".join(words[:-1]), words[-1]
        if name_key(first) and name_key(last):
            return first, last
    try:
        parsed = HumanName(text)
        first = " ".join(part for part in (parsed.first, parsed.middle) if part)
        last = str(parsed.last)
    except Exception:
        first, last = "", ""
    if name_key(first) and name_key(last):
        return first, last
    words = text.replace(",", " ").split()
    if len(words) < 2:
        return None
    first, last = " ".join(words[:-1]), words[-1]
    return (first, last) if name_key(first) and name_key(last) else None


def name_splits(full_key: str) -> list[tuple[str, str]]:
    """Every (first_key, last_key) a full-name key can be split into, first-name-shortest first.

    ``maria julia da silva`` -> (``maria``, ``julia da silva``), (``maria julia``, ``da silva``), ...
    The finder matches a full name against each split and keeps the match only if it is unique.
    """
    words = full_key.split()
    return [(" ".join(words[:cut]), " ".join(words[cut:])) for cut in range(1, len(words))]


# --- companies ------------------------------------------------------------------------------------

_EXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
"""The bundled Public Suffix List snapshot only: no fetch, no cache directory, no network ever."""


@lru_cache(maxsize=262_144)
def registrable_domain(text: str) -> str | None:
    """The registrable domain of any URL, host or e-mail address, per the Public Suffix List.

    ``https://careers.Acme.co.uk/jobs?x=1`` -> ``acme.co.uk``; ``www.acme.com`` -> ``acme.com``.
    Internationalised names are kept in their Punycode (``xn--``) form so both spellings agree.
    None for IP addresses, bare suffixes and hosts under no public suffix.
    """
    candidate = text.strip()
    if "@" in candidate and "/" not in candidate.split("@", 1)[0]:
        candidate = candidate.rsplit("@", 1)[1]
    parts = _url_parts(candidate)
    if parts is None:
        return None
    host = _to_punycode(parts[0])
    if host is None:
        return None
    try:
        domain = _EXTRACT(host).top_domain_under_public_suffix
    except Exception:
        return None
    return domain.lower() or None


def _to_punycode(host: str) -> str | None:
    if host.isascii():
        return host.lower()
    try:
        return host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None


_ABBREVIATION = re.compile(r"(?<![a-z0-9])(?:[a-z0-9][./])+[a-z0-9]?(?![a-z0-9])")
"""Single letters joined by dots or slashes ("s.p.a.", "o.o.", "a/s"), read as one word."""

_LEGAL_FORMS = """
# English-speaking
inc, incorporated, llc, llp, lllp, lp, pllc, ltd, limited, plc, corp, corporation, co, company,
and co, cos, pty, pty ltd, pvt, pvt ltd, private limited, pte, pte ltd, ltd co, co ltd, cic, lc
# German-speaking
gmbh, ag, kg, kgaa, ohg, gbr, ug, ug haftungsbeschrankt, ev, se, mbh
# French, Belgian, Swiss, Luxembourg
sa, sas, sasu, sarl, eurl, sca, scs, snc, sci, scop, selarl, bvba, sprl, srl, asbl, sa nv, s a,
s a s, s l, s p a, s r l
# Italian, Spanish, Portuguese, Latin American
spa, sapa, srls, scarl, sl, slu, sa de cv, s de rl, s de rl de cv, sab de cv, ltda, lda, eireli,
sgps, cv
# Dutch, Nordic, Baltic
bv, nv, vof, ab, ab publ, publ, as, asa, aps, a s, oy, oyj, hf, ehf, sia, uab, ou
# Central and Eastern Europe
sp z oo, spolka z oo, sp j, sp k, sro, spol sro, s ro, spol s ro, doo, dd, kft, zrt, nyrt, ooo,
oao, zao, pao, ao, tov, ad, eood, ood
# Asia-Pacific, Middle East, Africa
kk, yk, gk, sdn bhd, bhd, tbk, pt, jsc, ojsc, cjsc, fzc, fze, fz llc, wll, saog, pjsc, nl
"""

LEGAL_SUFFIXES: frozenset[tuple[str, ...]] = frozenset(
    tuple(form.split())
    for line in _LEGAL_FORMS.splitlines()
    if not line.startswith("#")
    for form in line.split(",")
    if form.strip()
)
"""Legal-form suffixes, as token sequences after folding (dots inside abbreviations removed, other
punctuation turned into spaces): "S.p.A." -> "spa", "Sp. z o.o." -> "sp z oo", "A/S" -> "as".
Removed repeatedly from the end ("GmbH & Co. KG" -> "", so the name before it remains), never
down to nothing. Covers the list of docs/finder.md §1.4 plus the common forms of the locales we import."""
_LEADING_LEGAL_FORMS = frozenset({"pt", "ooo", "oao", "zao", "pao", "tov", "cv"})
_MAX_SUFFIX_TOKENS = max(len(form) for form in LEGAL_SUFFIXES)


def _company_tokens(name: str) -> list[str]:
    folded = _ascii_fold(name).replace("&", " and ").replace("+", " and ")
    folded = _ABBREVIATION.sub(lambda match: re.sub(r"[./]", "", match.group()), folded)
    folded = re.sub(r"['\u2019`]", "", folded)
    return _NON_ALNUM.sub(" ", folded).split()


def _strip_legal_forms(tokens: list[str]) -> list[str]:
    while len(tokens) > 1:
        for size in range(min(_MAX_SUFFIX_TOKENS, len(tokens) - 1), 0, -1):
            if tuple(tokens[-size:]) in LEGAL_SUFFIXES:
                tokens = tokens[:-size]
                break
        else:
            if tokens[-1] == "and":
                tokens = tokens[:-1]
                continue
            break
    if len(tokens) > 1 and tokens[0] in _LEADING_LEGAL_FORMS:
        tokens = tokens[1:]
    return tokens


@lru_cache(maxsize=262_144)
def company_key(name: str) -> str | None:
    """A company name folded for comparison: ``Acme Corp.`` = ``ACME`` = ``Acme, Inc.``.

    Case-folded, transliterated to ASCII, ``&`` read as ``and``, punctuation dropped and legal-form
    suffixes (:data:`LEGAL_SUFFIXES`) removed. None when nothing is left.
    """
    tokens = _strip_legal_forms(_company_tokens(name))
    return " ".join(tokens) or None


# --- phones ---------------------------------------------------------------------------------------

phonenumbers.enable_pattern_cache()
"""libphonenumber's metadata patterns, compiled once and kept: more than the ``re`` module's own
cache holds, so without this each number read looks them up (or compiles them again) there, 5 to 16 %
of what normalising an imported row costs (README, "The import")."""

_PHONE_SEPARATORS = re.compile(r"[;|]")
_REGION_ALIASES = {"UK": "GB"}


def split_phone_cell(cell: str) -> list[str]:
    """The numbers of one phone cell: ``"a; b | c"`` -> ``["a", "b", "c"]`` (empty parts dropped)."""
    return [part.strip() for part in _PHONE_SEPARATORS.split(cell) if part.strip()]


def _region(country_hint: str | None) -> str | None:
    if not country_hint:
        return None
    code = country_hint.strip().upper()
    code = _REGION_ALIASES.get(code, code)
    return code if code in phonenumbers.SUPPORTED_REGIONS else None


@lru_cache(maxsize=262_144)
def read_phone(raw: str, country_hint: str | None) -> PhoneReading | None:
    """:func:`parse_phone`, remembered: searches and upstream answers repeat the same numbers."""
    return parse_phone(raw, country_hint)


def parse_phone(raw: str, country_hint: str | None) -> PhoneReading | None:
    """Read one written number with libphonenumber; None when it does not parse. Not cached: an
    import reads each number about once, where a cache would only hold memory.

    National forms are read with ``country_hint`` (ISO alpha-2); ``00`` international prefixes as
    ``+`` whatever the hint. Extensions are dropped from the E.164 form. ``valid`` is
    ``phonenumbers.is_valid_number``, computed from the type and region read anyway.
    """
    text = raw.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, _region(country_hint))
    except (phonenumbers.NumberParseException, ValueError, TypeError):
        return None
    if not number.country_code or not number.national_number:
        return None
    region = phonenumbers.region_code_for_number(number)
    number_type = _number_type(number, number.country_code, region)
    return PhoneReading(
        e164=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        valid=region is not None and number_type != phonenumbers.PhoneNumberType.UNKNOWN,
        line_type=_LINE_TYPE_NAMES.get(number_type, "unknown"),
        region=region,
    )


_METADATA_FOR = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code


def _number_type(number: phonenumbers.PhoneNumber, calling_code: int, region: str | None) -> int:
    """``phonenumbers.number_type`` given the region already read: that function reads it again,
    which for the regions sharing a calling code (+1, +7, +44, …) matches the number once more."""
    metadata = _METADATA_FOR(calling_code, region) if region else None
    if metadata is None:
        return phonenumbers.PhoneNumberType.UNKNOWN
    return _number_type_helper(phonenumbers.national_significant_number(number), metadata)


_LINE_TYPE_NAMES = {
    value: name.lower()
    for name, value in vars(phonenumbers.PhoneNumberType).items()
    if name.isupper() and isinstance(value, int)
}


# --- searches -------------------------------------------------------------------------------------

_ALIASES: dict[str, tuple[str, ...]] = {
    "first": ("firstname", "first_name"),
    "last": ("lastname", "last_name"),
    "full": ("fullname", "full_name"),
    "linkedin": ("linkedin_url",),
    "domain": ("company_domain",),
    "company": ("company_name",),
}


def _text_field(params: Mapping[str, object], field: str) -> str | None:
    """The first non-blank spelling of ``field``; numbers are read as text, other JSON types ignored."""
    for alias in _ALIASES[field]:
        value = params.get(alias)
        if isinstance(value, str):
            if value.strip():
                return value
        elif isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
    return None


_FIELD_OF_COLUMN = {name: field for field, names in _ALIASES.items() for name in names if "_" in name}
SEARCH_FIELDS = frozenset(name for names in _ALIASES.values() for name in names)
"""Every field of a search that identifies its person, under each spelling the API accepts."""


def search_param_text(params: Mapping[str, object], column: str) -> str:
    """One search field of stored params (``first_name``, … under any spelling the API accepts), or ''."""
    return _text_field(params, _FIELD_OF_COLUMN[column]) or ""


def _name_keys(params: Mapping[str, object]) -> tuple[str | None, str | None, str | None]:
    """The first, last and full-name keys: from the first and last names when both fold to
    something, else from a full name split in two (the full-name key is then set too)."""
    first, last = _text_field(params, "first"), _text_field(params, "last")
    if first is not None and last is not None:
        first_key, last_key = name_key(first), name_key(last)
        if first_key and last_key:
            return first_key, last_key, None
    full = _text_field(params, "full")
    parts = split_full_name(full) if full is not None else None
    if parts is None:
        return None, None, None
    first_key, last_key = name_key(parts[0]), name_key(parts[1])
    return first_key, last_key, f"{first_key} {last_key}"


def search_from_params(params: Mapping[str, object]) -> Search:
    """Normalise one API search (docs/api.md §4 field aliases) into a :class:`Search`.

    Raises ``MissingMandatoryProperty`` when neither a LinkedIn URL nor names plus a company are
    given, and ``InvalidLinkedinUrl`` when the only identification is a URL that is not a LinkedIn
    profile. A bad LinkedIn URL beside complete names is ignored (the names identify the person).
    """
    if not isinstance(params, Mapping):
        raise MissingMandatoryProperty()
    linkedin_text = _text_field(params, "linkedin")
    profile = linkedin_key(linkedin_text) if linkedin_text is not None else None
    first_key, last_key, full_name_key = _name_keys(params)
    domain_text, company_text = _text_field(params, "domain"), _text_field(params, "company")
    search = Search(
        linkedin_key=profile,
        first_key=first_key,
        last_key=last_key,
        company_domain=registrable_domain(domain_text) if domain_text is not None else None,
        company_key=company_key(company_text) if company_text is not None else None,
        full_name_key=full_name_key,
    )
    if profile is not None or search.has_names:
        return search
    if linkedin_text is not None:
        raise InvalidLinkedinUrl()
    raise MissingMandatoryProperty()
