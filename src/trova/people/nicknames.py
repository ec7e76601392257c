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

Pairs one letter apart (``Ann``/``Anna``, ``Pete``/``Peter``, ``Angel``/``Angela``) are left out:
a spelling that close is as likely a different person, or a typo, as a nickname, and names are
never matched by edit distance (docs/finder.md §1.2). The finder goes further: a person on record
whose first name is one letter from the searched one (:func:`one_letter_away`) makes a nickname
match ambiguous, the search being as likely a misspelling of their name; and a person on record at
the company under the searched first name itself, any last name, keeps the nickname from being
used there (the short form is a given name at that company, docs/finder.md §2.7).
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
def _table() -> dict[str, frozenset[str]]:
    """Each nickname's key -> the keys of the names it stands for."""
    stands_for: dict[str, set[str]] = {}
    for name, nickname in (*_english_pairs(), *_curated_pairs()):
        name, nickname = name_key(name), name_key(nickname)
        if name and nickname and not _one_letter_apart(name, nickname):
            stands_for.setdefault(nickname, set()).add(name)
    return {nickname: frozenset(names) for nickname, names in stands_for.items()}


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
    return _table().get(first_key, frozenset())


def nicknames() -> frozenset[str]:
    """Every key the table reads as a nickname: the keys :func:`readings` answers for (the benchmark
    inverts them to search people by a short form of their name)."""
    return frozenset(_table())


_LETTERS = "abcdefghijklmnopqrstuvwxyz "


def one_letter_away(first_key: str) -> frozenset[str]:
    """Every name key one letter (or space) inserted, deleted or replaced away from ``first_key``:
    the names a search for ``first_key`` may be a misspelling of (docs/finder.md §2.7)."""
    cuts = [(first_key[:i], first_key[i:]) for i in range(len(first_key) + 1)]
    found = {head + tail[1:] for head, tail in cuts if tail}
    found |= {head + letter + tail[1:] for head, tail in cuts if tail for letter in _LETTERS}
    found |= {head + letter + tail for head, tail in cuts for letter in _LETTERS}
    return frozenset(key for key in found if key and key == key.strip() and "  " not in key) - {first_key}
