"""Given names and their nicknames (docs/finder.md §2.7): ``Mike`` = ``Michael``, ``Beppe`` = ``Giuseppe``.

English pairs come from the ``nicknames`` package (a hand-curated CSV, Apache-2.0); Italian,
Spanish, French and German pairs from ``trova/data/nicknames.csv``, which names its source. Both
are read once, through the name normaliser, into one table of direct links: a name is linked to
its nicknames and a nickname to the names it stands for, never further (``Chris`` reaches
``Christopher`` and ``Christian``, but ``Christopher`` does not reach ``Christian``).

Pairs one letter apart (``Ann``/``Anna``, ``Pete``/``Peter``, ``Jon``/``John``) are left out: a
spelling that close is as likely a different person, or a typo, as a nickname, and names are never
matched by edit distance (docs/finder.md §1.2). The benchmark's one-letter-off searches, which name
nobody, were answered through such pairs before they were left out.
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
    linked: dict[str, set[str]] = {}
    for name, nickname in (*_english_pairs(), *_curated_pairs()):
        name, nickname = name_key(name), name_key(nickname)
        if name and nickname and not _one_letter_apart(name, nickname):
            linked.setdefault(name, set()).add(nickname)
            linked.setdefault(nickname, set()).add(name)
    return {name: frozenset(others) for name, others in linked.items()}


def _one_letter_apart(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` are equal or one insertion, deletion or substitution apart."""
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) <= 1
    shorter, longer = sorted((a, b), key=len)
    return any(longer[:i] + longer[i + 1 :] == shorter for i in range(len(longer)))


def variants(first_key: str) -> frozenset[str]:
    """The first-name keys directly linked to ``first_key``: its nicknames and the names it is a
    nickname of (never ``first_key`` itself). Empty for a name no table knows."""
    return _table().get(first_key, frozenset())
