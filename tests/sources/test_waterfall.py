"""The waterfall as a unit: its gate, one step and ``complete`` with in-memory fake sources (no HTTP).

The contact store is real (both dialects): the waterfall keeps what a source reports there and
resolves it again with the finder's own ``resolve_locally``, which is what these tests check.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from trova.finder.service import Finder
from trova.finder.upstream import Upstream
from trova.people.models import Answer, Observation, Search
from trova.sources import repository as repo
from trova.sources.config import CommonOptions, LocalOptions, SourceSpec
from trova.sources.guard import after_step, gate
from trova.sources.models import Failure, Lookup, SourceHealth, SourceKind, SourceStats
from trova.sources.waterfall import Waterfall, worth_asking
from trova.store import Database, utcnow

NOW = dt.datetime(2026, 5, 1, 12, 0, 0)
ADA = Search(linkedin_key="ada-lovelace")
BOB = Search(linkedin_key="bob-smith")
EVE = Search(linkedin_key="eve-nobody")
ADA_MOBILE = "+33612345678"
BOB_MOBILE = "+33698765432"


def mobile(number: str, source: str) -> Observation:
    return Observation(number, True, "mobile", "FR", source, utcnow(), number)


class FakeSource:
    """A :class:`~trova.sources.models.Source` answering from tables, recording what it was asked."""

    kind: SourceKind = "http"

    def __init__(
        self,
        name: str,
        numbers: Mapping[Search, str] | None = None,
        *,
        failure: Failure | None = None,
        raises: bool = False,
        reports: Mapping[Search, Sequence[Observation]] | None = None,
    ) -> None:
        self.name = name
        self.numbers = dict(numbers or {})
        self.failure = failure
        self.raises = raises
        self.reports = dict(reports or {})
        self.asked: list[list[Search]] = []

    def lookup_many(self, searches: Sequence[Search], deadline: float) -> Lookup:
        self.asked.append(list(searches))
        if self.raises:
            raise RuntimeError("bug in the source")
        if self.failure is not None:
            return Lookup(requests=1, errors=1, failure=self.failure, error="HTTP 503")
        found: dict[Search, Sequence[Observation]] = {
            s: (mobile(self.numbers[s], self.name),) for s in searches if s in self.numbers
        }
        found.update({s: tuple(self.reports[s]) for s in searches if s in self.reports})
        missed = frozenset(s for s in searches if s not in found)
        return Lookup(found=found, missed=missed, requests=len(searches), credits_spent=len(found))


def spec(name: str, position: int, **options: object) -> SourceSpec:
    return SourceSpec(name, "http", CommonOptions.model_validate(options), position)


LOCAL = SourceSpec("local", "local", LocalOptions(), 0)


def waterfall(db: Database, *sources: tuple[SourceSpec, FakeSource], local_first: bool = True) -> Waterfall:
    specs = ([LOCAL] if local_first else []) + [pair[0] for pair in sources]
    return Waterfall(db, specs, {pair[1].name: pair[1] for pair in sources}, clock=lambda: NOW)


def complete(db: Database, upstream: Waterfall, searches: Sequence[Search]) -> dict[Search, Answer]:
    finder = Finder(db)
    return upstream.complete(searches, finder.resolve_locally(searches), finder.resolve_locally)


def stats(db: Database, source: str) -> SourceStats:
    with db.read() as conn:
        return repo.stats_since(conn, None).get(source, SourceStats(source))


# --- the gate and the breaker (pure) --------------------------------------------------------------

OPTIONS = CommonOptions(circuit_failures=2, circuit_open_s=60, exhausted_recheck_s=3600)


def test_breaker_opens_after_consecutive_failures_and_closes_on_success() -> None:
    failed = Lookup(failure="error", error="HTTP 503")
    once = after_step(SourceHealth("up"), failed, OPTIONS, NOW)
    assert gate(once, OPTIONS, NOW) == "ok"
    twice = after_step(once, failed, OPTIONS, NOW)
    assert twice.open_until == NOW + dt.timedelta(seconds=60)
    assert gate(twice, OPTIONS, NOW + dt.timedelta(seconds=59)) == "open"
    assert gate(twice, OPTIONS, NOW + dt.timedelta(seconds=60)) == "ok"
    probe_failed = after_step(twice, failed, OPTIONS, NOW + dt.timedelta(seconds=61))
    assert gate(probe_failed, OPTIONS, NOW + dt.timedelta(seconds=62)) == "open"
    healed = after_step(probe_failed, Lookup(), OPTIONS, NOW + dt.timedelta(seconds=200))
    assert (healed.consecutive_failures, healed.open_until, healed.last_error) == (0, None, "HTTP 503")
    assert gate(healed, OPTIONS, NOW + dt.timedelta(seconds=200)) == "ok"


def test_exhaustion_and_backoff() -> None:
    exhausted = after_step(SourceHealth("up"), Lookup(failure="exhausted", error="402"), OPTIONS, NOW)
    assert gate(exhausted, OPTIONS, NOW + dt.timedelta(minutes=59)) == "exhausted"
    assert gate(exhausted, OPTIONS, NOW + dt.timedelta(minutes=60)) == "ok"
    limited = after_step(SourceHealth("up"), Lookup(failure="rate_limited", retry_after_s=30), OPTIONS, NOW)
    assert limited.backoff_until == NOW + dt.timedelta(seconds=30)
    assert gate(limited, OPTIONS, NOW + dt.timedelta(seconds=29)) == "backing_off"
    assert limited.consecutive_failures == 0


def test_a_source_never_asked_passes_the_gate() -> None:
    assert gate(None, OPTIONS, NOW) == "ok"


def test_only_unanswered_searches_are_worth_asking_and_namesakes_only_by_profile() -> None:
    found = Answer(person_key="p:1", number=ADA_MOBILE)
    names = Search(first_key="ada", last_key="lovelace", company_key="acme")
    assert worth_asking(ADA, found) is False
    assert worth_asking(ADA, Answer(person_key=None, reason="no_person")) is True
    assert worth_asking(names, Answer(person_key=None, reason="ambiguous")) is False
    assert worth_asking(ADA, Answer(person_key=None, reason="ambiguous")) is True


# --- one step, and the whole waterfall -------------------------------------------------------------


def test_the_waterfall_is_the_finders_upstream(db: Database) -> None:
    upstream: Upstream = waterfall(db)
    assert isinstance(upstream, Waterfall) and not upstream.has_upstreams


def test_each_source_is_asked_only_for_what_the_ones_before_it_did_not_find(db: Database) -> None:
    first = FakeSource("first", {ADA: ADA_MOBILE})
    second = FakeSource("second", {ADA: "+33600000000", BOB: BOB_MOBILE})
    upstream = waterfall(db, (spec("first", 1), first), (spec("second", 2), second))
    answers = complete(db, upstream, [ADA, BOB, EVE, ADA])
    assert list(answers) == [ADA, BOB, EVE]
    assert (answers[ADA].number, answers[ADA].sources) == (ADA_MOBILE, ("first",))
    assert (answers[BOB].number, answers[BOB].sources) == (BOB_MOBILE, ("second",))
    assert not answers[EVE].found
    assert first.asked == [[ADA, BOB, EVE]]
    assert second.asked == [[BOB, EVE]]
    assert stats(db, "first") == SourceStats(
        "first", requests=3, searches=3, hits=1, misses=2, credits_spent=1
    )
    assert stats(db, "second") == SourceStats(
        "second", requests=2, searches=2, hits=1, misses=1, credits_spent=1
    )


def test_what_a_source_found_is_kept_and_answered_locally_next_time(db: Database) -> None:
    source = FakeSource("up", {ADA: ADA_MOBILE})
    complete(db, waterfall(db, (spec("up", 1), source)), [ADA])
    local = Finder(db).resolve_locally([ADA])[ADA]
    assert (local.number, local.sources) == (ADA_MOBILE, ("up",))
    again = complete(db, waterfall(db, (spec("up", 1), source)), [ADA])
    assert again[ADA].number == ADA_MOBILE and source.asked == [[ADA]]


def test_a_miss_is_remembered_for_its_ttl_and_zero_asks_every_time(db: Database) -> None:
    source = FakeSource("up")
    upstream = waterfall(db, (spec("up", 1, negative_ttl_days=30), source))
    complete(db, upstream, [EVE])
    complete(db, upstream, [EVE])
    assert source.asked == [[EVE]]
    assert stats(db, "up").cached_misses == 1
    always = FakeSource("always")
    upstream = waterfall(db, (spec("always", 1, negative_ttl_days=0), always))
    complete(db, upstream, [EVE])
    complete(db, upstream, [EVE])
    assert always.asked == [[EVE], [EVE]]


def test_failures_open_the_breaker_and_the_gate_skips_the_source(db: Database) -> None:
    down = FakeSource("down", failure="error")
    upstream = waterfall(db, (spec("down", 1, circuit_failures=2, circuit_open_s=60), down))
    for _ in range(3):
        answers = complete(db, upstream, [ADA, BOB])
        assert not answers[ADA].found and not answers[BOB].found
    assert len(down.asked) == 2
    down_stats = stats(db, "down")
    assert (down_stats.errors, down_stats.fell_through, down_stats.skipped) == (2, 4, 2)
    with db.read() as conn:
        health = repo.health_of(conn, ["down"])["down"]
    assert health.open_until == NOW + dt.timedelta(seconds=60) and health.last_error == "HTTP 503"


def test_a_source_that_raises_falls_through_to_the_next(db: Database) -> None:
    broken = FakeSource("broken", raises=True)
    backup = FakeSource("backup", {ADA: ADA_MOBILE})
    upstream = waterfall(db, (spec("broken", 1), broken), (spec("backup", 2), backup))
    answers = complete(db, upstream, [ADA])
    assert answers[ADA].sources == ("backup",) and broken.asked == [[ADA]]
    with db.read() as conn:
        assert repo.health_of(conn, ["broken"])["broken"].last_error == "internal error: RuntimeError"


def test_unusable_numbers_are_counted_as_rejected_and_not_answered(db: Database) -> None:
    toll_free = Observation("+33800123456", True, "toll_free", "FR", "up", utcnow(), "0800123456")
    unparsed = Observation(None, False, None, None, "up", utcnow(), "not a number")
    source = FakeSource("up", reports={ADA: [toll_free], BOB: [unparsed]})
    answers = complete(db, waterfall(db, (spec("up", 1), source)), [ADA, BOB])
    assert not answers[ADA].found and not answers[BOB].found
    up = stats(db, "up")
    assert (up.searches, up.hits, up.rejected, up.misses) == (2, 0, 2, 2)


def test_a_step_asks_nothing_when_every_search_is_answered(db: Database) -> None:
    source = FakeSource("up", {ADA: ADA_MOBILE})
    upstream = waterfall(db, (spec("up", 1), source))
    found = {ADA: Answer(person_key="p:1", number=ADA_MOBILE)}
    step = upstream.step(upstream.specs[1], source, [ADA], found, Finder(db).resolve_locally)
    assert step.answers == {} and step.stats == SourceStats("up") and source.asked == []
