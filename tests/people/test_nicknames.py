"""The nickname table (docs/finder.md §2.7): English from the ``nicknames`` package, Italian, Spanish,
French and German from ``trova/data/nicknames.csv``; direct links only, both ways."""

from __future__ import annotations

import pytest

from trova.people.nicknames import variants


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
def test_a_name_and_its_nickname_reach_each_other(name: str, nickname: str) -> None:
    assert nickname in variants(name)
    assert name in variants(nickname)


def test_keys_are_those_of_the_name_normaliser() -> None:
    assert "toto" in variants("antonio")
    assert "jose maria" in variants("chema")


def test_links_are_direct_never_chained() -> None:
    assert {"christopher", "christian"} <= variants("chris")
    assert "christian" not in variants("christopher")
    assert "giuseppe" not in variants("joseph")
    assert "michael" not in variants("michael")


@pytest.mark.parametrize(("a", "b"), [("ann", "anna"), ("pete", "peter"), ("jon", "john"), ("leo", "leon")])
def test_names_one_letter_apart_are_never_nicknames(a: str, b: str) -> None:
    assert b not in variants(a) and a not in variants(b)


def test_an_unknown_name_has_no_variants() -> None:
    assert variants("dagoberta") == frozenset()
    assert variants("") == frozenset()


def test_the_order_independence_reference_agrees_with_the_table() -> None:
    """tests/finder/test_order_independence.py writes the links among its names by hand."""
    assert "robert" in variants("bob")
    assert "bob" in variants("robert")
    assert not variants("ann") & {"bob", "robert"}
