"""Given names and their nicknames (docs/finder.md §2.7): ``Mike`` stands for ``Michael``, ``Beppe``
for ``Giuseppe``.

English pairs come from the ``nicknames`` package (a hand-curated CSV, Apache-2.0); Italian,
Spanish, French and German pairs from ``trova/data/nicknames.csv``, which names its source. Both
are read once, through the name normaliser, into one table from each nickname to the names it
stands for, read in that direction only and never further: ``Chris`` stands for ``Christopher``
and ``Christian``, but ``Christopher`` reaches neither ``Chris`` nor ``Christian``. A searched
first name is read as a nickname, never the other way round: a person on record under a short
form (``Amy``, ``Alex``, ``Angel``) may be any of the names it stands for, or be called just that,
which no table can count, so a search for ``Amelia`` is never taken for them. Where the package
lists a pair both ways (``Bob`` for ``Robert`` and ``Robert`` for ``Bob``), both readings hold.

Pairs one letter apart (``Ann``/``Anna``, ``Pete``/``Peter``, ``Angel``/``Angela``) never match:
a spelling that close is as likely a different person, or a typo, as a nickname, and names are
never matched by edit distance (docs/finder.md §1.2). They still name a reading of the nickname:
:func:`close_readings` gives them, and a person found through one makes a nickname match ambiguous
(an ``Angel`` search with an ``Angela`` and an ``Angelina`` of the name at the company finds nobody).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from functools import cache
from importlib import resources

from nicknames import name_triplets

from trova.people.normalise import name_key

DATA_FILE = "nicknames.csv"


def _curated_pairs() -> Iterator[tuple[str, str]]:
    text = resources.files("trova.data").joinpath(DATA_FILE).read_text(encoding="utf-8")
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    for row in rows:
        yield row["name"], row["nickname"]


def _english_pairs() -> Iterator[tuple[str, str]]:
    for triplet in name_triplets():
        if triplet.relationship == "has_nickname":
            yield triplet.name1, triplet.name2


@cache
def _table() -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]]:
    """Each nickname's names: those it matches, and those one letter apart (counted, never matched)."""
    far: dict[str, set[str]] = {}
    close: dict[str, set[str]] = {}
    for name, nickname in (*_english_pairs(), *_curated_pairs()):
        name, nickname = name_key(name), name_key(nickname)
        if name and nickname and name != nickname:
            (close if _one_letter_apart(name, nickname) else far).setdefault(nickname, set()).add(name)
    return (
        {nickname: frozenset(names) for nickname, names in far.items()},
        {nickname: frozenset(names) for nickname, names in close.items()},
    )


def _one_letter_apart(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` are equal or one insertion, deletion or substitution apart."""
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) <= 1
    shorter, longer = sorted((a, b), key=len)
    return any(longer[:i] + longer[i + 1 :] == shorter for i in range(len(longer)))


def readings(first_key: str) -> frozenset[str]:
    """The first-name keys ``first_key`` stands for as a nickname, one letter apart left out (never
    ``first_key`` itself). Empty for a name no table lists as a nickname."""
    return _table()[0].get(first_key, frozenset())


def close_readings(first_key: str) -> frozenset[str]:
    """The first-name keys ``first_key`` stands for as a nickname that are one letter apart from it:
    never matched, but a person found through them makes a nickname match ambiguous."""
    return _table()[1].get(first_key, frozenset())
