"""How the repositories cut keys and rows into statements (``trova.store.sql``)."""

from __future__ import annotations

from trova.store.sql import SLICE_SIZES, batches, distinct_slices, padded_slices


def test_distinct_slices_keep_first_seen_order_without_repeats() -> None:
    assert list(distinct_slices([3, 1, 3, 2, 1, 4], size=2)) == [[3, 1], [2, 4]]
    assert list(distinct_slices([])) == []


def test_padded_slices_repeat_their_first_value_up_to_a_statement_size() -> None:
    assert list(padded_slices(["a", "b", "a"])) == [["a", "b"] + ["a"] * (SLICE_SIZES[0] - 2)]
    largest = SLICE_SIZES[-1]
    parts = list(padded_slices(range(largest + 10)))
    assert [len(part) for part in parts] == [largest, SLICE_SIZES[1]]
    assert parts[1][:10] == list(range(largest, largest + 10))
    assert set(parts[1][10:]) == {largest}


def test_batches_cut_rows_in_order() -> None:
    rows = [{"n": i} for i in range(5)]
    assert [list(part) for part in batches(rows, 2)] == [rows[:2], rows[2:4], rows[4:]]
