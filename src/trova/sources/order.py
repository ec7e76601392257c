"""The order in which vendors are asked about one search (docs/finder.md §4.7).

``waterfall = "configured"`` asks every source in the order of the file. ``waterfall = "cost"``
keeps the non-vendor sources (``local``, ``enrow``, ``http``) where the file puts them and, in the
places the vendor kinds occupy, asks the vendors of each search by **expected cost per found
number for the search's country**, measured from the ``source_calls`` rows: what the vendor billed
for its definitive answers (found, no match, masked) divided by the numbers it found. A vendor
billing only matches costs its ``price`` per find whatever its hit rate; one billing every request
costs ``price ÷ hit rate``.

Until a vendor has :data:`MEASURED_AFTER` definitive outcomes for a country its estimate is not
trusted: the unmeasured vendors are asked first, in the configured order (the configured order is
the prior), so that each is measured in a few dozen searches; the measured ones follow, cheapest per
find first (ties: configured order). A share ``explore`` of the searches (chosen by a digest of the
search key, so a run is reproducible) moves one vendor, also chosen by the digest, to the front, so
the estimates of the vendors asked late stay current.

The search's country is the country of its company domain's country-code top-level domain
(``acme.fr`` → FR, ``acme.co.uk`` → GB); a generic or missing domain gives no country, and those
searches are measured together.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from trova.people.models import Answer, Search
from trova.people.rank import PERSONAL_LINES
from trova.sources.models import search_key

WaterfallMode = Literal["configured", "cost"]
StopAt = Literal["found", "mobile"]
MEASURED_AFTER = 50
"""Definitive outcomes in a country before a vendor's measured cost replaces the configured order."""

_GENERIC_CCTLDS = frozenset(
    {"io", "co", "ai", "me", "tv", "cc", "ly", "gg", "to", "fm", "ws", "sh", "ac", "la"}
)
_CCTLD_COUNTRIES = {"uk": "GB", "el": "GR"}


def country_of_search(search: Search) -> str | None:
    """The ISO 3166 alpha-2 country of the search's company domain, when its TLD names one."""
    domain = search.company_domain or ""
    tld = domain.rsplit(".", 1)[-1].lower() if "." in domain else ""
    if len(tld) != 2 or not tld.isalpha() or tld in _GENERIC_CCTLDS:
        return None
    return _CCTLD_COUNTRIES.get(tld, tld.upper())


def satisfied(answer: Answer, stop_at: StopAt) -> bool:
    """Whether this answer ends the waterfall for its search: any found number, or (``stop_at =
    "mobile"``) a personal line (``mobile``, ``fixed_line_or_mobile``). A landline-only answer keeps
    the search asking for a mobile; a valid mobile is never asked past."""
    if not answer.found:
        return False
    return stop_at == "found" or answer.line_type in PERSONAL_LINES


@dataclass(frozen=True, slots=True)
class Estimate:
    """What the call rows say about one vendor in one country."""

    source: str
    position: int
    price: float
    outcomes: int = 0
    found: int = 0
    spend: float = 0.0

    @property
    def measured(self) -> bool:
        return self.outcomes >= MEASURED_AFTER

    @property
    def cost_per_found(self) -> float:
        """Spend per number found (infinite while it found none)."""
        return self.spend / self.found if self.found else math.inf

    def reason(self, country: str | None) -> str:
        where = country or "searches without a country"
        if not self.measured:
            return (
                f"not yet measured in {where} ({self.outcomes} of {MEASURED_AFTER} outcomes): "
                f"configured position {self.position}, price {self.price:g}"
            )
        rate = self.found / self.outcomes
        cost = "no find yet" if not self.found else f"{self.cost_per_found:.3g} per found number"
        return f"{cost} in {where} ({self.outcomes} outcomes, {rate:.0%} found, price {self.price:g})"


@dataclass(frozen=True, slots=True)
class Choice:
    """The vendors of one search in asking order, with why."""

    country: str | None
    vendors: tuple[str, ...]
    reasons: Mapping[str, str]
    explored: str | None = None
    """The vendor moved to the front by the exploration share, if any."""


def _unit(search: Search, salt: str) -> float:
    digest = hashlib.blake2b(f"{salt}\x1f{search_key(search)}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def choose_order(search: Search, estimates: Sequence[Estimate], explore: float) -> Choice:
    """The cost order of the vendors ``estimates`` describes (given in configured order)."""
    country = country_of_search(search)
    unmeasured = [e for e in estimates if not e.measured]
    measured = sorted((e for e in estimates if e.measured), key=lambda e: (e.cost_per_found, e.position))
    ordered = [e.source for e in unmeasured + measured]
    explored = None
    if len(ordered) > 1 and _unit(search, "explore") < explore:
        explored = ordered[int(_unit(search, "vendor") * len(ordered))]
        ordered = [explored] + [name for name in ordered if name != explored]
    reasons = {e.source: e.reason(country) for e in estimates}
    return Choice(country, tuple(ordered), reasons, explored)


def describe(choice: Choice, mode: WaterfallMode) -> list[str]:
    """The order chosen and why, one line per vendor (``trova explain``)."""
    if mode == "configured":
        return [f"{i}. {name}: configured order" for i, name in enumerate(choice.vendors, 1)]
    lines = []
    for i, name in enumerate(choice.vendors, 1):
        note = " — moved first by the exploration share" if name == choice.explored else ""
        lines.append(f"{i}. {name}: {choice.reasons[name]}{note}")
    return lines
