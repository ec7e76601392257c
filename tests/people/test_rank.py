"""docs/finder.md §3, step by step, on the pure ranking function (the same code ranks every source)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from trova.people.models import Observation
from trova.people.normalise import read_phone
from trova.people.rank import choose, summarise

DAY = dt.datetime(2025, 3, 1)


def seen(raw: str, source: str = "crm", when: dt.datetime = DAY) -> Observation:
    reading = read_phone(raw, "FR")
    if reading is None:
        return Observation(None, False, None, None, source, when, raw)
    return Observation(reading.e164, reading.valid, reading.line_type, reading.region, source, when, raw)


MOBILE, MOBILE_2, MOBILE_3 = "+33612345678", "+33698765432", "+33611111111"
FIXED, VOIP, TOLL_FREE, PREMIUM = "+33142685300", "+33912345678", "+33800123456", "+33891123456"
PERSONAL_NUMBER, PAGER = "+447012345678", "+447623456789"
US_FLOM = "+12015550123"


def chosen(observations: list[Observation], shared: frozenset[str] = frozenset()) -> str | None:
    number = choose(observations, shared)
    return number.e164 if number else None


def test_unparseable_and_invalid_numbers_are_dropped() -> None:
    assert chosen([seen("not a number"), seen("+33 6 12"), seen("+33712345678")]) is None
    assert chosen([seen("not a number"), seen("+33 6 12"), seen(FIXED)]) == FIXED


def test_never_returned_line_types() -> None:
    assert chosen([seen(TOLL_FREE), seen(PREMIUM), seen(PAGER)]) is None
    reasons = {n.e164: n.exclusion for n in summarise([seen(TOLL_FREE), seen(PREMIUM), seen(PAGER)], ())}
    assert reasons == {TOLL_FREE: "toll_free", PREMIUM: "premium_rate", PAGER: "pager"}


def test_returned_line_types() -> None:
    for number in (MOBILE, US_FLOM, FIXED, VOIP, PERSONAL_NUMBER):
        assert chosen([seen(number), seen(TOLL_FREE)]) == number


def test_personal_lines_rank_first_whatever_the_rest() -> None:
    old = DAY - dt.timedelta(days=900)
    observations = [seen(MOBILE, when=old), *(seen(FIXED, source=s) for s in "abcde"), seen(VOIP)]
    assert chosen(observations) == MOBILE
    assert chosen([seen(FIXED), seen(US_FLOM, when=old)]) == US_FLOM


def test_fixed_voip_and_personal_number_are_one_group() -> None:
    newer = DAY + dt.timedelta(days=1)
    assert chosen([seen(FIXED), seen(VOIP, when=newer)]) == VOIP
    assert chosen([seen(VOIP), seen(PERSONAL_NUMBER, when=newer)]) == PERSONAL_NUMBER
    assert chosen([seen(PERSONAL_NUMBER), seen(FIXED, when=newer)]) == FIXED


def test_shared_lines_rank_below_personal_ones_within_a_group() -> None:
    newer = DAY + dt.timedelta(days=10)
    shared = frozenset({MOBILE})
    observations = [seen(MOBILE, "a", newer), seen(MOBILE, "b", newer), seen(MOBILE_2)]
    assert chosen(observations, shared) == MOBILE_2
    assert chosen(observations) == MOBILE


def test_shared_mobile_still_beats_a_personal_fixed_line() -> None:
    assert chosen([seen(MOBILE), seen(FIXED)], frozenset({MOBILE})) == MOBILE


def test_a_shared_line_is_returned_when_it_is_all_there_is() -> None:
    assert chosen([seen(FIXED)], frozenset({FIXED})) == FIXED


def test_corroboration_beats_recency() -> None:
    newer = DAY + dt.timedelta(days=365)
    observations = [seen(MOBILE, "a"), seen(MOBILE, "b"), seen(MOBILE_2, "a", newer)]
    assert chosen(observations) == MOBILE


def test_sources_are_counted_once_each() -> None:
    newer = DAY + dt.timedelta(days=1)
    observations = [
        seen(MOBILE, "a"),
        seen(MOBILE, "a", DAY - dt.timedelta(days=5)),
        seen(MOBILE_2, "b", newer),
    ]
    assert chosen(observations) == MOBILE_2
    best = summarise(observations, ())[1]
    assert best.sources == ("a",) and best.observations == 2


def test_recency_decides_between_equally_corroborated_numbers() -> None:
    observations = [seen(MOBILE, "a", DAY), seen(MOBILE_2, "a", DAY + dt.timedelta(seconds=1))]
    assert chosen(observations) == MOBILE_2
    observations = [seen(MOBILE, "a", DAY + dt.timedelta(days=3)), seen(MOBILE_2, "a", DAY)]
    assert chosen(observations) == MOBILE


def test_recency_is_the_newest_observation_of_a_number() -> None:
    observations = [
        seen(MOBILE, "a", DAY - dt.timedelta(days=99)),
        seen(MOBILE, "a", DAY + dt.timedelta(days=2)),
        seen(MOBILE_2, "b", DAY + dt.timedelta(days=1)),
    ]
    assert chosen(observations) == MOBILE


def test_ties_go_to_the_smallest_e164() -> None:
    assert chosen([seen(MOBILE_2), seen(MOBILE_3), seen(MOBILE)]) == MOBILE_3


def test_summary_merges_written_forms_of_one_number() -> None:
    numbers = summarise(
        [seen("06 12 34 56 78", "a"), seen("+33 6 12 34 56 78", "b", DAY + dt.timedelta(days=1))], ()
    )
    assert len(numbers) == 1
    number = numbers[0]
    assert (number.e164, number.sources, number.first_seen, number.region, number.line_type) == (
        MOBILE,
        ("a", "b"),
        DAY,
        "FR",
        "mobile",
    )
    assert number.last_seen == DAY + dt.timedelta(days=1)


@given(
    st.permutations(
        [
            seen(MOBILE, "a"),
            seen(MOBILE_2, "b"),
            seen(FIXED, "c"),
            seen(TOLL_FREE, "d"),
            seen(MOBILE_3, "a", DAY + dt.timedelta(days=1)),
            seen("garbage"),
        ]
    )
)
def test_choice_does_not_depend_on_order(observations: list[Observation]) -> None:
    assert chosen(observations) == MOBILE_3


def flagged(raw: str, flag: bool | None, source: str = "vendor") -> Observation:
    return replace(seen(raw, source), do_not_call=flag)


def test_do_not_call_flags_merge_per_number_any_flag_wins() -> None:
    merged = {
        number.e164: number.do_not_call
        for number in summarise(
            [
                flagged(MOBILE, None, "crm"),
                flagged(MOBILE, True, "a"),
                flagged(MOBILE, False, "b"),
                flagged(MOBILE_2, False, "a"),
                flagged(MOBILE_2, None, "crm"),
                flagged(MOBILE_3, None, "crm"),
            ],
            frozenset(),
        )
    }
    assert merged == {MOBILE: True, MOBILE_2: False, MOBILE_3: None}


def test_excluding_do_not_call_skips_flagged_numbers_only() -> None:
    observations = [flagged(MOBILE, True, "a"), flagged(MOBILE, True, "b"), flagged(FIXED, False)]
    kept = choose(observations, frozenset())
    assert kept is not None and (kept.e164, kept.do_not_call) == (MOBILE, True)
    excluded = choose(observations, frozenset(), exclude_do_not_call=True)
    assert excluded is not None and (excluded.e164, excluded.do_not_call) == (FIXED, False)
    assert choose([flagged(MOBILE, True)], frozenset(), exclude_do_not_call=True) is None


@given(
    st.lists(
        st.builds(
            flagged,
            st.sampled_from([MOBILE, MOBILE_2, FIXED, VOIP, TOLL_FREE, "garbage", "+336123"]),
            st.sampled_from([None, True, False]),
            st.sampled_from(["a", "b", "c"]),
        ).flatmap(
            lambda observation: st.integers(0, 3).map(
                lambda days: replace(observation, observed_at=DAY + dt.timedelta(days=days))
            )
        ),
        max_size=8,
    ),
    st.frozensets(st.sampled_from([MOBILE, FIXED])),
    st.booleans(),
)
def test_choice_is_the_best_of_the_summary(
    observations: list[Observation], shared: frozenset[str], exclude_do_not_call: bool
) -> None:
    """``choose`` ranks without building every number: it must pick what the full summary puts first."""
    summary = [
        number
        for number in summarise(observations, shared)
        if not (exclude_do_not_call and number.do_not_call is True)
    ]
    expected = summary[0] if summary and summary[0].eligible else None
    assert choose(observations, shared, exclude_do_not_call=exclude_do_not_call) == expected
