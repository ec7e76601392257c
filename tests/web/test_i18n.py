"""The catalogues: every string of the web app is in the Italian catalogue, translated, and the
compiled catalogue shipped in the package is the one the ``.po`` file gives."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from trova.web.i18n import LOCALE_DIR, Language, negotiate

WEB = LOCALE_DIR.parent
PO = LOCALE_DIR / "it" / "LC_MESSAGES" / "messages.po"
MO = LOCALE_DIR / "it" / "LC_MESSAGES" / "messages.mo"


def source_messages() -> set[str]:
    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(WEB), method_map=method_map, keywords=keywords
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_string_is_translated_in_italian() -> None:
    with PO.open("rb") as handle:
        catalogue = read_po(handle)
    translated = {m.id: m.string for m in catalogue if m.id}
    missing = source_messages() - translated.keys()
    assert not missing, f"not in {PO}: {sorted(missing)}"
    assert all(translated.values()), [k for k, v in translated.items() if not v]


def test_the_shipped_mo_file_is_compiled_from_the_po_file() -> None:
    with PO.open("rb") as handle:
        catalogue = read_po(handle)
    compiled = io.BytesIO()
    write_mo(compiled, catalogue)
    assert MO.read_bytes() == compiled.getvalue(), "run: pybabel compile -d src/trova/web/locale"


@pytest.mark.parametrize(
    ("header", "locale"),
    [
        (None, "en"),
        ("it-IT,it;q=0.9,en;q=0.8", "it"),
        ("en-GB,it;q=0.5", "en"),
        ("de-DE,it;q=0.7,en;q=0.3", "it"),
        ("fr, *;q=0.1", "en"),
        ("xx-!!, it", "it"),
    ],
)
def test_accept_language(header: str | None, locale: str) -> None:
    assert negotiate(header) == locale


def test_numbers_per_locale() -> None:
    assert Language("en").number(176000) == "176,000"
    assert Language("it").number(176000) == "176.000"
    assert Language("it").gettext("Find phones") == "Trova i telefoni"


def test_catalogue_is_package_data() -> None:
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert "web/locale/*/LC_MESSAGES/*" in pyproject and "web/templates/*.html" in pyproject
