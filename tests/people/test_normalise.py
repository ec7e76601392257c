"""The normalisers of docs/finder.md §1, rule by rule, plus property tests."""

from __future__ import annotations

import socket
import unicodedata
from typing import Any

import phonenumbers
import pytest
import tldextract
from hypothesis import example, given, settings
from hypothesis import strategies as st
from nameparser import HumanName

from trova.errors import InvalidLinkedinUrl, MissingMandatoryProperty
from trova.people.models import Search
from trova.people.normalise import (
    LEGAL_SUFFIXES,
    company_key,
    linkedin_key,
    name_key,
    name_splits,
    read_phone,
    registrable_domain,
    search_from_params,
    split_full_name,
    split_phone_cell,
)

# --- LinkedIn -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://www.linkedin.com/in/jane-doe",
        "https://www.linkedin.com/in/jane-doe/",
        "http://www.linkedin.com/in/jane-doe",
        "www.linkedin.com/in/jane-doe",
        "linkedin.com/in/jane-doe",
        "//linkedin.com/in/jane-doe",
        "HTTPS://WWW.LINKEDIN.COM/IN/JANE-DOE/",
        "https://m.linkedin.com/in/jane-doe",
        "https://fr.linkedin.com/in/jane-doe",
        "https://www.linkedin.com/mwlite/in/jane-doe",
        "https://www.linkedin.com/in/jane-doe?originalSubdomain=fr",
        "https://www.linkedin.com/in/jane-doe#experience",
        "https://www.linkedin.com/in/jane-doe/details/experience/",
        "https://www.linkedin.com/in/jane-doe/recent-activity/all/",
        "https://www.linkedin.com/in/jane-doe/overlay/contact-info/",
        "https://www.linkedin.com:443/in/jane-doe",
        "https://www.linkedin.com./in/jane-doe",
        "  \thttps://www.linkedin.com/in/jane-doe \n",
        "https://www.linkedin.com//in//jane-doe//",
    ],
)
def test_every_profile_url_form_reduces_to_one_key(url: str) -> None:
    assert linkedin_key(url) == "jane-doe"


def test_percent_encoded_and_raw_unicode_names_are_the_same_key() -> None:
    encoded = linkedin_key("https://www.linkedin.com/in/%C3%A9lodie-m%C3%BCller-1a2b3c/")
    raw = linkedin_key("linkedin.com/in/Élodie-Müller-1a2b3c")
    assert encoded == raw == "élodie-müller-1a2b3c"


def test_decomposed_unicode_is_the_same_key_as_composed() -> None:
    decomposed = unicodedata.normalize("NFD", "élodie")
    assert linkedin_key(f"linkedin.com/in/{decomposed}") == linkedin_key("linkedin.com/in/élodie")


@pytest.mark.parametrize(
    "url",
    [
        "",
        "   ",
        "jane-doe",
        "https://www.linkedin.com/",
        "https://www.linkedin.com/in/",
        "https://www.linkedin.com/in/%20/",
        "https://www.linkedin.com/company/acme/",
        "https://www.linkedin.com/school/acme/",
        "https://www.linkedin.com/feed/",
        "https://www.linkedin.com/search/results/people/?keywords=jane",
        "https://www.linkedin.com/jobs/view/123",
        "https://www.linkedin.com/posts/jane-doe_activity-1",
        "https://www.linkedin.com/pulse/some-article",
        "https://example.com/in/jane-doe",
        "https://notlinkedin.com/in/jane-doe",
        "https://linkedin.com.evil.io/in/jane-doe",
        "https://www.linkedin.com/in/jane%2Fdoe",
        "http://[::1",
        "mailto:jane@linkedin.com",
    ],
)
def test_non_profile_urls_have_no_key(url: str) -> None:
    assert linkedin_key(url) is None


# --- names ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Jean-Pierre", "jean pierre"),
        ("JEAN  PIERRE", "jean-pierre"),
        ("Élodie", "Elodie"),
        ("O'Brien", "o brien"),
        ("O\u2019Brien", "O'Brien"),
        ("J.R.", "j r"),
        ("Maria Júlia", "maria julia"),
        ("Müller", "MULLER"),
        ("Straße", "STRASSE"),
        ("Łukasz", "Lukasz"),
        ("Dvořák", "dvorak"),
    ],
)
def test_equal_names(a: str, b: str) -> None:
    assert name_key(a) == name_key(b)
    assert name_key(a)


@pytest.mark.parametrize(("a", "b"), [("Dagoberta", "Dagobert"), ("Jon", "John"), ("Mari", "Marie")])
def test_no_edit_distance_matching(a: str, b: str) -> None:
    assert name_key(a) != name_key(b)


def test_name_key_shape() -> None:
    assert name_key("  Jean--Pierre  ") == "jean pierre"
    assert name_key("") == ""
    assert name_key(" -'. ") == ""
    assert name_key("Дмитрий") == "dmitriy"


@pytest.mark.parametrize(
    ("full", "expected"),
    [
        ("Jane Doe", ("Jane", "Doe")),
        ("Maria Júlia Silva", ("Maria Júlia", "Silva")),
        ("Jean-Pierre Dupont", ("Jean-Pierre", "Dupont")),
        ("Dupont, Jean", ("Jean", "Dupont")),
        ("Dr. John Smith Jr.", ("John", "Smith")),
        ("Ludwig van Beethoven", ("Ludwig", "van Beethoven")),
        ("Judge Reinhold", ("Judge", "Reinhold")),
        ("  Jane   Doe  ", ("Jane", "Doe")),
    ],
)
def test_split_full_name(full: str, expected: tuple[str, str]) -> None:
    assert split_full_name(full) == expected


@pytest.mark.parametrize("full", ["", "   ", "Madonna", ",", "- -"])
def test_full_name_without_two_parts(full: str) -> None:
    assert split_full_name(full) is None


def test_name_splits_cover_every_cut() -> None:
    assert name_splits("maria julia da silva") == [
        ("maria", "julia da silva"),
        ("maria julia", "da silva"),
        ("maria julia da", "silva"),
    ]
    assert name_splits("madonna") == []


# --- domains --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://careers.Acme.co.uk/jobs?x=1", "acme.co.uk"),
        ("acme.co.uk", "acme.co.uk"),
        ("www.acme.com", "acme.com"),
        ("ACME.COM", "acme.com"),
        ("http://acme.com.br/", "acme.com.br"),
        ("loja.acme.com.br", "acme.com.br"),
        ("a.b.c.acme.de", "acme.de"),
        ("https://www.acme.com:8443/path", "acme.com"),
        ("acme.com.", "acme.com"),
        ("jane@acme.fr", "acme.fr"),
        ("  www.acme.io  ", "acme.io"),
        ("münchen.de", "xn--mnchen-3ya.de"),
        ("xn--mnchen-3ya.de", "xn--mnchen-3ya.de"),
    ],
)
def test_registrable_domain(text: str, expected: str) -> None:
    assert registrable_domain(text) == expected


@pytest.mark.parametrize("text", ["", "co.uk", "com", "localhost", "10.0.0.1", "http://[::1]/", "n/a", ":::"])
def test_not_a_registrable_domain(text: str) -> None:
    assert registrable_domain(text) is None


def test_public_suffix_list_is_read_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    fresh = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    assert fresh("https://x.y.acme.co.uk").top_domain_under_public_suffix == "acme.co.uk"
    registrable_domain.cache_clear()
    assert registrable_domain("shop.acme.com.au") == "acme.com.au"


# --- companies ------------------------------------------------------------------------------------

FINDER_MD_SUFFIXES = [
    "Inc.",
    "LLC",
    "Corp.",
    "Ltd",
    "Limited",
    "PLC",
    "GmbH",
    "AG",
    "KG",
    "SAS",
    "SA",
    "SARL",
    "S.p.A.",
    "S.r.l.",
    "S.L.",
    "B.V.",
    "N.V.",
    "AB",
    "Sp. z o.o.",
    "Pty Ltd",
    "Pvt. Ltd.",
    "Ltda.",
]


@pytest.mark.parametrize("suffix", FINDER_MD_SUFFIXES)
@pytest.mark.parametrize("glue", [" ", ", "])
def test_every_finder_md_legal_suffix_is_removed(suffix: str, glue: str) -> None:
    assert company_key(f"Acme Widgets{glue}{suffix}") == "acme widgets"
    assert company_key(f"ACME WIDGETS{glue}{suffix.upper()}") == "acme widgets"


@pytest.mark.parametrize(
    "name",
    [
        "Acme Corp.",
        "ACME",
        "Acme, Inc.",
        "acme inc",
        "Acme Incorporated",
        "Acme GmbH & Co. KG",
        "Acme Co., Ltd.",
        "Acme A/S",
        "Acme AB (publ)",
        "Acme S.A. de C.V.",
        "Acme Sdn. Bhd.",
        "PT Acme Tbk",
        "OOO Acme",
        "Acme Corporation",
        "Acme & Co.",
        "Acme spol. s r.o.",
        "Acme.Inc",
        " Ácmé  ",
    ],
)
def test_company_variants_share_one_key(name: str) -> None:
    assert company_key(name) == "acme"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Johnson & Johnson", "Johnson and Johnson"),
        ("Procter & Gamble Co.", "procter and gamble"),
        ("Société Générale S.A.", "societe generale"),
        ("J.P. Morgan", "JP Morgan"),
        ("Hewlett-Packard", "Hewlett Packard"),
        ("McDonald's", "mcdonalds"),
    ],
)
def test_equal_companies(a: str, b: str) -> None:
    assert company_key(a) == company_key(b)


def test_company_key_is_never_stripped_to_nothing() -> None:
    assert company_key("AB") == "ab"
    assert company_key("Limited") == "limited"
    assert company_key("Ltd. Inc.") == "ltd"
    assert company_key("") is None
    assert company_key(" &.,; ") == "and"
    assert company_key("!!!") is None


def test_different_companies_stay_different() -> None:
    assert company_key("Acme Holdings") != company_key("Acme")
    assert company_key("Acme France") != company_key("Acme")


def test_legal_suffix_list_is_folded() -> None:
    for form in LEGAL_SUFFIXES:
        for token in form:
            assert token == token.lower() and token.isalnum()


# --- phones ---------------------------------------------------------------------------------------


def test_split_phone_cell() -> None:
    assert split_phone_cell("a; b | c") == ["a", "b", "c"]
    assert split_phone_cell(" +33 6 12 34 56 78 ;; ") == ["+33 6 12 34 56 78"]
    assert split_phone_cell("") == []


@pytest.mark.parametrize(
    ("raw", "hint"),
    [
        ("+33 6 12 34 56 78", None),
        ("+33612345678", "US"),
        ("06 12 34 56 78", "FR"),
        ("06.12.34.56.78", "fr"),
        ("0033 6 12 34 56 78", None),
        ("0033612345678", "US"),
        ("+33 (0)6 12 34 56 78", None),
        ("tel:+33-6-12-34-56-78", None),
    ],
)
def test_read_phone_forms(raw: str, hint: str | None) -> None:
    reading = read_phone(raw, hint)
    assert reading is not None
    assert (reading.e164, reading.valid, reading.line_type, reading.region) == (
        "+33612345678",
        True,
        "mobile",
        "FR",
    )


def test_read_phone_types_and_extensions() -> None:
    us = read_phone("(201) 555-0123 ext. 42", "US")
    assert us is not None and us.e164 == "+12015550123" and us.region == "US"
    assert us.line_type == "fixed_line_or_mobile"
    toll_free = read_phone("+1 800 555 0123", None)
    assert toll_free is not None and toll_free.line_type == "toll_free"
    uk = read_phone("020 7946 0958", "UK")
    assert uk is not None and uk.e164 == "+442079460958" and uk.line_type == "fixed_line"
    invalid = read_phone("+33 1", None)
    assert invalid is None or not invalid.valid


@pytest.mark.parametrize(
    ("raw", "hint"),
    [
        ("", None),
        ("garbage", None),
        ("06 12 34 56 78", None),
        ("06 12 34 56 78", "XX"),
        ("+", "FR"),
        ("9" * 400, "FR"),
    ],
)
def test_unreadable_phones(raw: str, hint: str | None) -> None:
    reading = read_phone(raw, hint)
    assert reading is None or not reading.valid


# --- searches -------------------------------------------------------------------------------------


def test_search_aliases_are_equivalent() -> None:
    a = search_from_params({"firstname": "Jean-Pierre", "lastname": "Dupont", "company_name": "Acme SAS"})
    b = search_from_params({"first_name": "jean pierre", "last_name": "DUPONT", "company_name": "ACME"})
    assert a == b == Search(first_key="jean pierre", last_key="dupont", company_key="acme")


def test_search_from_full_name_and_domain_url() -> None:
    search = search_from_params(
        {"full_name": "Maria Júlia da Silva", "company_domain": "https://www.acme.com.br/x"}
    )
    assert search == Search(
        first_key="maria julia",
        last_key="da silva",
        company_domain="acme.com.br",
        full_name_key="maria julia da silva",
    )
    assert search_from_params({"fullname": "Jane Doe", "company_name": "Acme"}).full_name_key == "jane doe"


def test_separate_names_win_over_full_name() -> None:
    search = search_from_params(
        {"firstname": "Jane", "lastname": "Roe", "fullname": "Janet Doe", "company_name": "Acme"}
    )
    assert (search.first_key, search.last_key, search.full_name_key) == ("jane", "roe", None)


def test_linkedin_search_keeps_names_for_the_fallback() -> None:
    search = search_from_params(
        {
            "linkedin_url": "linkedin.com/in/Jane-Doe",
            "firstname": "Jane",
            "lastname": "Doe",
            "company_domain": "acme.com",
        }
    )
    assert search == Search(
        linkedin_key="jane-doe", first_key="jane", last_key="doe", company_domain="acme.com"
    )
    assert search_from_params({"linkedin_url": "https://linkedin.com/in/x"}) == Search(linkedin_key="x")


def test_bad_linkedin_url_beside_complete_names_is_ignored() -> None:
    search = search_from_params(
        {
            "linkedin_url": "https://linkedin.com/company/acme",
            "firstname": "Jane",
            "lastname": "Doe",
            "company_name": "Acme",
        }
    )
    assert search == Search(first_key="jane", last_key="doe", company_key="acme")


@pytest.mark.parametrize(
    "params",
    [
        {"linkedin_url": "https://linkedin.com/company/acme"},
        {"linkedin_url": "https://example.com/in/jane"},
        {"linkedin_url": "https://linkedin.com/in/", "firstname": "Jane", "lastname": "Doe"},
        {"linkedin_url": 12, "company_name": "Acme"},
    ],
)
def test_invalid_linkedin_url(params: dict[str, object]) -> None:
    with pytest.raises(InvalidLinkedinUrl) as caught:
        search_from_params(params)
    assert caught.value.message == "Invalid linkedin_url"


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"linkedin_url": ""},
        {"linkedin_url": None, "firstname": "Jane"},
        {"firstname": "Jane", "lastname": "Doe"},
        {"firstname": "Jane", "lastname": "Doe", "company_domain": "not a domain"},
        {"firstname": "Jane", "company_name": "Acme"},
        {"fullname": "Madonna", "company_name": "Acme"},
        {"firstname": "---", "lastname": "Doe", "company_name": "Acme"},
        {"firstname": ["Jane"], "lastname": {"x": 1}, "company_name": True},
        {"firstname": "Jane", "lastname": "Doe", "company_name": "!!!"},
    ],
)
def test_missing_mandatory_property(params: dict[str, object]) -> None:
    with pytest.raises(MissingMandatoryProperty) as caught:
        search_from_params(params)
    assert caught.value.message == "Missing mandatory property"


# --- properties -----------------------------------------------------------------------------------

ACCENTED = {"a": "áàâäãå", "e": "éèêë", "i": "íìîï", "o": "óòôöõ", "u": "úùûü", "c": "ç", "n": "ñ", "y": "ý"}
latin_words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=12)
latin_names = (
    st.lists(latin_words, min_size=1, max_size=4)
    .flatmap(
        lambda words: st.tuples(
            st.just(words),
            st.lists(st.sampled_from([" ", "-", "'", ". ", "  "]), min_size=len(words), max_size=len(words)),
        )
    )
    .map(lambda pair: "".join(word + sep for word, sep in zip(*pair, strict=True)))
)


def accent(text: str, data: st.DataObject) -> str:
    return "".join(data.draw(st.sampled_from([ch, *ACCENTED[ch]])) if ch in ACCENTED else ch for ch in text)


@given(st.text())
@settings(max_examples=300)
def test_normalisers_never_raise(text: str) -> None:
    assert isinstance(name_key(text), str)
    linkedin_key(text)
    registrable_domain(text)
    company_key(text)
    split_full_name(text)
    split_phone_cell(text)
    read_phone(text, None)
    read_phone(text, text[:2])


@given(
    st.dictionaries(
        st.sampled_from(
            ["firstname", "last_name", "fullname", "linkedin_url", "company_domain", "company_name", "other"]
        ),
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats()
        | st.text()
        | st.lists(st.text(), max_size=2)
        | st.dictionaries(st.text(), st.text(), max_size=2),
    )
)
@settings(max_examples=300)
def test_search_from_params_raises_only_documented_errors(params: dict[str, object]) -> None:
    try:
        search = search_from_params(params)
    except (MissingMandatoryProperty, InvalidLinkedinUrl):
        return
    assert search.linkedin_key or search.has_names


@given(st.text())
def test_keys_are_idempotent(text: str) -> None:
    assert name_key(name_key(text)) == name_key(text)
    company = company_key(text)
    if company is not None:
        assert company_key(company) == company
    domain = registrable_domain(text)
    if domain is not None:
        assert registrable_domain(domain) == domain
    profile = linkedin_key(text)
    if profile is not None and "/" not in profile and "?" not in profile and "#" not in profile:
        assert linkedin_key(f"linkedin.com/in/{profile}") == profile


@given(latin_names, st.data())
def test_name_key_ignores_case_and_accents(name: str, data: st.DataObject) -> None:
    accented = accent(name, data)
    assert name_key(accented) == name_key(name)
    assert name_key(accented.upper()) == name_key(name)
    assert name_key(unicodedata.normalize("NFD", accented)) == name_key(name)


@given(latin_names, st.sampled_from(FINDER_MD_SUFFIXES), st.data())
def test_company_key_ignores_case_accents_and_suffix(name: str, suffix: str, data: st.DataObject) -> None:
    accented = accent(name, data)
    assert company_key(accented.upper()) == company_key(name)
    assert company_key(f"{accented} {suffix}") == company_key(name) or company_key(name) is None


@given(
    latin_words,
    st.sampled_from(["com", "co.uk", "com.br", "de", "fr"]),
    st.sampled_from(["", "www.", "jobs.x."]),
)
def test_registrable_domain_ignores_case_and_subdomains(label: str, suffix: str, sub: str) -> None:
    expected = f"{label}.{suffix}"
    assert registrable_domain(f"https://{sub}{label.upper()}.{suffix.upper()}/x?y=1") == expected


@given(latin_words)
def test_linkedin_key_ignores_case(vanity: str) -> None:
    assert linkedin_key(f"HTTPS://WWW.LINKEDIN.COM/IN/{vanity.upper()}/") == vanity


plain_words = st.text(alphabet="abcdefghijklmnopqrstuvwxyzéü-'", min_size=2, max_size=10).filter(
    lambda word: word[0].isalpha() and word[-1].isalpha()
)


@given(st.lists(plain_words, min_size=2, max_size=4))
@example(["aa", "aa", "ix"])  # a Roman numeral: a generational suffix to nameparser
def test_fast_full_name_split_agrees_with_nameparser(words: list[str]) -> None:
    full = " ".join(word.capitalize() for word in words)
    parsed = HumanName(full)
    first = " ".join(part for part in (parsed.first, parsed.middle) if part)
    expected = (first, parsed.last) if name_key(first) and name_key(parsed.last) else None
    if expected is not None:
        assert split_full_name(full) == expected


def test_validity_is_libphonenumbers() -> None:
    for raw, hint in [
        ("+1 201 555 0123", None),
        ("+1 204 555 0123", None),
        ("+44 20 7946 0958", None),
        ("+33 7 12 34 56 78", None),
        ("+800 1234 5678", None),
        ("+1 999 555 0123", None),
    ]:
        reading = read_phone(raw, hint)
        assert reading is not None
        assert reading.valid == phonenumbers.is_valid_number(phonenumbers.parse(raw, hint)), raw


@given(
    st.sampled_from(["", "http://", "https://", "HTTPS://"]),
    st.sampled_from(["", "www.", "WWW."]),
    st.text(min_size=1, max_size=20),
    st.sampled_from(["", "/", "/?x=1", "#top"]),
)
def test_fast_linkedin_path_agrees_with_the_general_one(
    scheme: str, www: str, vanity: str, tail: str
) -> None:
    url = f"{scheme}{www}linkedin.com/in/{vanity}{tail}"
    general = f"{scheme or 'https://'}{www}LinkedIn.com./in/{vanity}{tail}"
    assert linkedin_key(url) == linkedin_key(general)
