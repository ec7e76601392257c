"""Languages of the web app: English (the message ids) and Italian, through Babel's catalogues.

The language comes from the ``trova_lang`` cookie (set by the switch), else from ``Accept-Language``;
numbers and dates are formatted for it. Strings built in Python are marked with :func:`N_` so that
``pybabel extract`` finds them; templates translate them with ``_``.
"""

from __future__ import annotations

import datetime as dt
import gettext
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime
from babel.numbers import format_decimal
from babel.support import Translations
from starlette.requests import Request

LOCALES = ("en", "it")
DEFAULT_LOCALE = "en"
LANG_COOKIE = "trova_lang"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"


def N_(message: str) -> str:
    """Marks a string for the catalogue without translating it yet."""
    return message


@lru_cache(maxsize=len(LOCALES))
def translations(locale: str) -> gettext.NullTranslations:
    """The compiled catalogue of ``locale`` (English is the message ids themselves)."""
    if locale == DEFAULT_LOCALE:
        return gettext.NullTranslations()
    return Translations.load(str(LOCALE_DIR), [locale], domain="messages")


def negotiate(accept_language: str | None) -> str:
    """The best of :data:`LOCALES` for an ``Accept-Language`` header (English when none fits)."""
    if not accept_language:
        return DEFAULT_LOCALE
    wanted: list[tuple[float, str]] = []
    for position, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag:
            wanted.append((quality - position * 1e-6, tag.strip().replace("_", "-")))
    for _quality, tag in sorted(wanted, reverse=True):
        try:
            language = Locale.parse(tag, sep="-").language
        except (ValueError, UnknownLocaleError):
            continue
        if language in LOCALES:
            return language
    return DEFAULT_LOCALE


def locale_of(request: Request) -> str:
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in LOCALES:
        return str(chosen)
    return negotiate(request.headers.get("accept-language"))


@dataclass(frozen=True)
class Language:
    """What a template needs to speak one language: ``_``, ``ngettext`` and the formatters."""

    locale: str

    @property
    def _catalogue(self) -> gettext.NullTranslations:
        return translations(self.locale)

    @property
    def gettext(self) -> Callable[[str], str]:
        return self._catalogue.gettext

    @property
    def ngettext(self) -> Callable[[str, str, int], str]:
        return self._catalogue.ngettext

    def number(self, value: int | float) -> str:
        return format_decimal(value, locale=self.locale)

    def datetime(self, value: dt.datetime | None) -> str:
        if value is None:
            return ""
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return format_datetime(value, "short", tzinfo=dt.UTC, locale=self.locale)
