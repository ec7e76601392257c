"""The keys by which a store person is named outside the store, and the name pairs a search may match."""

from __future__ import annotations

from trova.people.models import Search
from trova.people.normalise import name_splits

PERSON_PREFIX = "p:"


def person_key(person_id: int) -> str:
    """The stable name of a store person in answers, batch de-duplication and the audit trail."""
    return f"{PERSON_PREFIX}{person_id}"


def person_id_of(key: str | None) -> int | None:
    """The store person a :func:`person_key` names; ``None`` for any other key (or none)."""
    if key and key.startswith(PERSON_PREFIX) and key[len(PERSON_PREFIX) :].isdigit():
        return int(key[len(PERSON_PREFIX) :])
    return None


def name_pairs(search: Search) -> list[tuple[str, str]]:
    """The (first_key, last_key) pairs a search's names may be stored as.

    Separate first and last names are one pair; a full name may be cut anywhere (``Maria Júlia da
    Silva``), so each cut is a pair and the match must still be unique across all of them.
    """
    if search.full_name_key:
        return name_splits(search.full_name_key)
    if search.first_key and search.last_key:
        return [(search.first_key, search.last_key)]
    return []
