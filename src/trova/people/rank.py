"""Choosing the number (docs/finder.md §3): a pure function over one person's observations.

Every source's observations go through the same code: group them by number, drop what may never
be returned, then order what is left by line group, shared line, corroboration, recency and E.164.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import cast

from trova.people.models import LineType, Observation

PERSONAL_LINES: tuple[LineType, ...] = ("mobile", "fixed_line_or_mobile")
OTHER_LINES: tuple[LineType, ...] = ("fixed_line", "voip", "personal_number")
RETURNABLE_LINES: tuple[LineType, ...] = PERSONAL_LINES + OTHER_LINES
"""Line types that may be returned; every other type (toll-free, premium, pager, ...) never is."""

_EPOCH = dt.datetime(1970, 1, 1)


_FIXED_WORDS = ("landline", "fixed", "office", "work", "home")
_NEVER_WORDS = ("fax", "toll", "premium", "pager", "shared")


def stated_line_type(reading_type: str | None, stated: str | None) -> str | None:
    """libphonenumber's type, refined by what the source says of the line (an upstream's label, an
    import column's kind) only where libphonenumber cannot tell (``fixed_line_or_mobile``) or where
    the source says the line may never be returned (docs/finder.md §4.5)."""
    word = stated.casefold() if stated else ""
    if word and any(never in word for never in _NEVER_WORDS):
        return "toll_free" if "toll" in word else "pager" if "pager" in word else "unknown"
    if reading_type == "fixed_line_or_mobile":
        if "mobile" in word or "cell" in word:
            return "mobile"
        if any(fixed in word for fixed in _FIXED_WORDS):
            return "fixed_line"
    return reading_type


def exclusion(e164: str | None, valid: bool, line_type: str | None) -> str | None:
    """Why a number may never be returned (§3.1-§3.2): ``unparseable``, ``invalid`` or its line
    type (``toll_free``, ``premium_rate``, ...); None when it may be."""
    if e164 is None:
        return "unparseable"
    if not valid:
        return "invalid"
    if line_type not in RETURNABLE_LINES:
        return line_type or "unknown"
    return None
_MICROSECOND = dt.timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class RankedNumber:
    """Everything the observations say about one number of one person.

    ``shared``: the store holds this number for more than one person (a switchboard). ``sources``:
    the distinct source names that reported it. ``exclusion`` says why it may not be returned
    (``unparseable``, ``invalid``, or its line type), None when it may.
    """

    e164: str | None
    raw: str
    valid: bool
    line_type: str | None
    region: str | None
    shared: bool
    sources: tuple[str, ...]
    first_seen: dt.datetime
    last_seen: dt.datetime
    observations: int
    do_not_call: bool | None = None
    """True when any source flags the number do-not-call, False when sources say it is not and
    none says it is, None when no source says."""

    @property
    def exclusion(self) -> str | None:
        return exclusion(self.e164, self.valid, self.line_type)

    @property
    def eligible(self) -> bool:
        return self.exclusion is None

    @property
    def group(self) -> int:
        """0 for personal lines (mobile), 1 for other returnable lines, 2 for the excluded."""
        return _line_group(self.e164, self.valid, self.line_type)

    @property
    def returnable_line_type(self) -> LineType | None:
        return cast(LineType, self.line_type) if self.eligible else None


RankKey = tuple[int, bool, int, int, str]


def rank_key(number: RankedNumber) -> RankKey:
    """docs/finder.md §3.2-§3.6 as one sort key: smaller is better."""
    return _key(number.group, number.shared, len(number.sources), number.last_seen, number.e164 or number.raw)


def _key(group: int, shared: bool, sources: int, last_seen: dt.datetime, label: str) -> RankKey:
    return (group, shared, -sources, -((last_seen - _EPOCH) // _MICROSECOND), label)


def _line_group(e164: str | None, valid: bool, line_type: str | None) -> int:
    if exclusion(e164, valid, line_type) is not None:
        return 2
    return 0 if line_type in PERSONAL_LINES else 1


def summarise(observations: Iterable[Observation], shared: Collection[str]) -> list[RankedNumber]:
    """One :class:`RankedNumber` per distinct number, best first (excluded ones last).

    Observations of one number are merged: its sources are counted once each, its dates span
    them all, and its type and validity are those of the newest observation.
    """
    return sorted(_numbers(observations, shared), key=rank_key)


def choose(
    observations: Iterable[Observation], shared: Collection[str], *, exclude_do_not_call: bool = False
) -> RankedNumber | None:
    """The number to answer with, or None when no observation survives docs/finder.md §3.1-§3.2
    (and, with ``exclude_do_not_call``, §3.8: a number flagged do-not-call is never returned)."""
    best: RankKey | None = None
    best_group: list[Observation] = []
    for group in _grouped(observations).values():
        if exclude_do_not_call and do_not_call_of(group) is True:
            continue
        key = _group_key(group, shared)
        if best is None or key < best:
            best, best_group = key, group
    return _merge(best_group, shared) if best is not None and best[0] != 2 else None


def do_not_call_of(observations: Iterable[Observation]) -> bool | None:
    """The merged do-not-call flag of one number's observations (any True wins, then any False)."""
    flags = {observation.do_not_call for observation in observations}
    return True if True in flags else False if False in flags else None


def _numbers(observations: Iterable[Observation], shared: Collection[str]) -> list[RankedNumber]:
    return [_merge(group, shared) for group in _grouped(observations).values()]


def _grouped(observations: Iterable[Observation]) -> dict[str, list[Observation]]:
    groups: dict[str, list[Observation]] = {}
    for observation in observations:
        key = observation.e164 if observation.e164 is not None else f"raw:{observation.raw}"
        groups.setdefault(key, []).append(observation)
    return groups


def _group_key(group: list[Observation], shared: Collection[str]) -> RankKey:
    """``rank_key`` of the number ``_merge`` would make of ``group``, without making it: ``choose``
    ranks every number of a person and keeps one (building each cost a fifth of resolution)."""
    newest = group[0] if len(group) == 1 else _newest(group)
    return _key(
        _line_group(newest.e164, newest.valid, newest.line_type),
        newest.e164 is not None and newest.e164 in shared,
        1 if len(group) == 1 else len({observation.source for observation in group}),
        newest.observed_at if len(group) == 1 else max(observation.observed_at for observation in group),
        newest.e164 or newest.raw,
    )


def _newest(group: list[Observation]) -> Observation:
    """The observation whose type and validity the merged number takes."""
    return max(group, key=lambda observation: (observation.valid, observation.observed_at))


def _merge(group: list[Observation], shared: Collection[str]) -> RankedNumber:
    if len(group) == 1:
        only = group[0]
        return RankedNumber(
            e164=only.e164,
            raw=only.raw,
            valid=only.valid,
            line_type=only.line_type,
            region=only.region,
            shared=only.e164 is not None and only.e164 in shared,
            sources=(only.source,),
            first_seen=only.observed_at,
            last_seen=only.observed_at,
            observations=1,
            do_not_call=only.do_not_call,
        )
    newest = _newest(group)
    return RankedNumber(
        e164=newest.e164,
        raw=newest.raw,
        valid=newest.valid,
        line_type=newest.line_type,
        region=newest.region,
        shared=newest.e164 is not None and newest.e164 in shared,
        sources=tuple(sorted({observation.source for observation in group})),
        first_seen=min(observation.observed_at for observation in group),
        last_seen=max(observation.observed_at for observation in group),
        observations=len(group),
        do_not_call=do_not_call_of(group),
    )
