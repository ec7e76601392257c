"""The nickname table (docs/finder.md §2.7): English from the ``nicknames`` package, Italian, Spanish,
French and German from ``trova/data/nicknames.csv``; each nickname read as the names it stands for,
direct links only, never the other way round."""

from __future__ import annotations

import pytest

from trova.people.nicknames import nicknames, one_letter_away, readings


@pytest.mark.parametrize(
    ("name", "nickname"),
    [
        ("michael", "mike"),
        ("robert", "bob"),
        ("giuseppe", "beppe"),
        ("giovanni", "gianni"),
        ("francisco", "paco"),
        ("jose", "pepe"),
        ("nicolas", "nico"),
        ("josef", "sepp"),
        ("concepcion", "concha"),
    ],
)
def test_a_nickname_stands_for_its_name(name: str, nickname: str) -> None:
    assert name in readings(nickname)


@pytest.mark.parametrize(
    ("name", "nickname"),
    [("giuseppe", "beppe"), ("amelia", "amy"), ("alexander", "alex"), ("angelica", "angel")],
)
def test_a_name_is_never_read_as_its_nickname(name: str, nickname: str) -> None:
    """A person on record as ``Amy`` may be an Amelia, another name, or just Amy: no table counts them."""
    assert nickname not in readings(name)


def test_a_pair_the_package_lists_both_ways_reads_both_ways() -> None:
    assert "robert" in readings("bob") and "bob" in readings("robert")


def test_keys_are_those_of_the_name_normaliser() -> None:
    assert "antonio" in readings("toto")
    assert "jose maria" in readings("chema")


def test_links_are_direct_never_chained() -> None:
    assert {"christopher", "christian"} <= readings("chris")
    assert "christian" not in readings("christopher")
    assert "giuseppe" not in readings("joseph")
    assert "joseph" not in readings("beppe")
    assert "michael" not in readings("michael")


def test_one_letter_away_is_one_insertion_deletion_or_substitution_of_a_letter_or_space() -> None:
    near = one_letter_away("angel")
    assert {"angela", "ange", "angol", "an gel", "angell"} <= near
    assert not {"angel", "angle", " angel", "angel ", "angelina", ""} & near
    assert "jose maria" in one_letter_away("jose mario") and "jose  maria" not in one_letter_away(
        "jose maria"
    )


@pytest.mark.parametrize(
    ("a", "b"), [("pete", "peter"), ("jon", "john"), ("leo", "leon"), ("angel", "angela")]
)
def test_names_one_letter_apart_are_never_nicknames(a: str, b: str) -> None:
    assert b not in readings(a) and a not in readings(b)


def test_nicknames_are_the_keys_with_readings() -> None:
    every = nicknames()
    assert {"mike", "bob", "beppe", "paco", "chris"} <= every
    assert "dagoberta" not in every
    assert all(readings(nickname) for nickname in every)


def test_an_unknown_name_has_no_readings() -> None:
    assert readings("dagoberta") == frozenset()
    assert readings("") == frozenset()


def test_the_order_independence_reference_agrees_with_the_table() -> None:
    """tests/finder/test_order_independence.py writes the readings among its names by hand."""
    assert "robert" in readings("bob")
    assert "bob" in readings("robert")
    assert readings("angel") & {"angela", "angelina"} == {"angelina"}
    assert not readings("angelina") & {"angel", "angela"}
    assert not readings("angela") & {"angel", "angelina"}
    assert not readings("ann") & {"bob", "robert", "angel", "angela", "angelina"}
    assert "angela" in one_letter_away("angel")
