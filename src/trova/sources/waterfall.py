"""The waterfall (docs/finder.md §4): each source in the configured order is asked only for the searches
the ones before it found nothing usable for. :class:`Waterfall` is the finder's
:class:`~trova.finder.upstream.Upstream`; the entry points build it with :func:`from_settings`.

One upstream step for a chunk of searches:

1. the **gate**: a source whose breaker is open, that answered 402 (exhausted) or 429 (backing
   off) is skipped, and its searches fall through at once;
2. the **negative cache**: searches this source had nothing for within ``negative_ttl_days`` are
   not asked again;
3. the **lookup**, bounded by the source's ``deadline_s``: whatever is not answered by then
   falls through (an upstream outage never fails a batch, a batch never waits forever);
4. **keeping**: every number the source reported becomes a record of that source in the contact
   store, and the searches it answered are resolved again *locally*, so its numbers are
   validated and ranked by the same code as everyone else's (``people.rank``) and the next search
   for the same person is answered without asking anyone;
5. **accounting**, one write transaction: counters, new misses, the breaker's state.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from prometheus_client import Counter

from trova.finder.upstream import LocalResolver, current_scope
from trova.people.models import Answer, Search
from trova.people.rank import choose
from trova.settings import Settings
from trova.sources import local
from trova.sources import repository as repo
from trova.sources.config import (
    CommonOptions,
    SourceSpec,
    VendorOptions,
    configured_sources,
    missing_secrets,
    not_asked,
)
from trova.sources.guard import Leases, after_step, allowance, gate
from trova.sources.kinds import build_source as build_source
from trova.sources.models import (
    STAT_COLUMNS,
    Call,
    Lookup,
    Source,
    SourceStats,
    search_from_json,
    search_key,
    search_to_json,
)
from trova.sources.order import (
    Choice,
    Estimate,
    StopAt,
    WaterfallMode,
    choose_order,
    country_of_search,
    satisfied,
)
from trova.store import Database, utcnow

log = logging.getLogger("trova.sources")

SOURCE_COUNTERS: dict[str, Counter] = {
    name: Counter(f"trova_source_{name}", f"Upstream source counter: {name.replace('_', ' ')}", ["source"])
    for name in STAT_COLUMNS
}
"""The per-source counters of this process in ``/metrics`` (``trova_source_hits_total{source=…}``);
``trova sources stats`` shows the same counters summed over every process from the database."""


CALLS = Counter("trova_source_calls", "Vendor calls by outcome", ["source", "outcome"])
SPEND = Counter("trova_source_spend", "What vendors billed, in each source's price unit", ["source"])


def worth_asking(search: Search, answer: Answer, stop_at: StopAt = "found") -> bool:
    """Whether an upstream could turn this search's answer into a (better) one.

    Not when the answer already satisfies ``stop_at``; not when the local store already found
    several people by these names: whatever an upstream says would be stored beside them and the
    search would stay ambiguous, paid for nothing. A LinkedIn profile, though, names one person
    whatever the namesakes.
    """
    if satisfied(answer, stop_at):
        return False
    if answer.found:
        return True
    return answer.reason != "ambiguous" or search.linkedin_key is not None


@dataclass(frozen=True, slots=True)
class Step:
    """What one upstream step concluded: answers for the searches it made found, and its counters."""

    answers: Mapping[Search, Answer]
    stats: SourceStats


class Waterfall:
    """The configured sources after the local store, each with its upstream client: the finder's
    ``Upstream`` (it implements :meth:`complete`, the one method the finder calls).

    ``mode``: ``configured`` (the file's order) or ``cost`` (the vendors of each search by expected
    cost per found number, ``sources.order``); ``explore``: the share of searches whose order is
    shuffled to keep the estimates current; ``stop_at``: ``found`` or ``mobile``.
    """

    def __init__(
        self,
        db: Database,
        specs: Sequence[SourceSpec],
        sources: Mapping[str, Source],
        clock: Callable[[], dt.datetime] = utcnow,
        *,
        mode: WaterfallMode = "configured",
        explore: float = 0.05,
        stop_at: StopAt = "found",
    ) -> None:
        self.db = db
        self.specs = list(specs)
        self.sources = dict(sources)
        self.clock = clock
        self.mode: WaterfallMode = mode
        self.explore = explore
        self.stop_at: StopAt = stop_at

    @property
    def has_upstreams(self) -> bool:
        return any(spec.kind != "local" and spec.name in self.sources for spec in self.specs)

    def complete(
        self,
        searches: Sequence[Search],
        local_answers: Mapping[Search, Answer],
        resolve_locally: LocalResolver,
    ) -> dict[Search, Answer]:
        """The answer for each distinct search: the local store's, or the first source's that found
        one (that satisfies ``stop_at``). Round ``r`` asks each search's ``r``-th source of its plan
        (:meth:`plans`); each source is asked once per round for all the searches it is next for."""
        latest = dict(local_answers)
        final: dict[Search, Answer] = {}
        pending = list(dict.fromkeys(searches))
        plans = self.plans(pending)
        by_name = {spec.name: spec for spec in self.specs}
        for round_ in range(len(self.specs)):
            groups: dict[str, list[Search]] = {}
            for search in pending:
                groups.setdefault(plans[search][round_], []).append(search)
            for name, group in sorted(groups.items(), key=lambda item: by_name[item[0]].position):
                spec = by_name[name]
                if spec.kind == "local":
                    final.update((s, latest[s]) for s in group if latest[s].found)
                elif spec.name in self.sources:
                    step = self.step(spec, self.sources[spec.name], group, latest, resolve_locally)
                    latest.update(step.answers)
                    final.update((s, a) for s, a in step.answers.items() if a.found)
            pending = [s for s in pending if not satisfied(final.get(s, latest[s]), self.stop_at)]
            if not pending:
                break
        return {search: final.get(search, latest[search]) for search in dict.fromkeys(searches)}

    def plans(self, searches: Sequence[Search]) -> dict[Search, tuple[str, ...]]:
        """Each search's sources in asking order: the configured order, with (``cost`` mode) the
        vendors' places filled by :meth:`choice` for that search."""
        names = tuple(spec.name for spec in self.specs)
        vendors = [spec for spec in self.specs if self._vendor(spec)]
        if self.mode == "configured" or len(vendors) < 2:
            return dict.fromkeys(searches, names)
        slots = {spec.name for spec in vendors}
        cache: dict[str | None, list[Estimate]] = {}
        plans = {}
        for search in searches:
            ordered = iter(self.choice(search, cache).vendors)
            plans[search] = tuple(next(ordered) if name in slots else name for name in names)
        return plans

    def choice(self, search: Search, cache: dict[str | None, list[Estimate]] | None = None) -> Choice:
        """The vendors of ``search`` in asking order, and why (``trova explain``)."""
        vendors = [spec for spec in self.specs if self._vendor(spec)]
        if self.mode == "configured":
            return Choice(country_of_search(search), tuple(s.name for s in vendors), {})
        cache = {} if cache is None else cache
        country = country_of_search(search)
        if country not in cache:
            with self.db.read() as conn:
                measured = repo.call_outcomes(conn, [spec.name for spec in vendors], country)
            cache[country] = [
                Estimate(spec.name, spec.position, _price(spec), *measured.get(spec.name, (0, 0, 0.0)))
                for spec in vendors
            ]
        return choose_order(search, cache[country], self.explore)

    def _vendor(self, spec: SourceSpec) -> bool:
        return isinstance(spec.options, VendorOptions) and spec.name in self.sources

    def step(
        self,
        spec: SourceSpec,
        source: Source,
        pending: Sequence[Search],
        latest: Mapping[Search, Answer],
        resolve_locally: LocalResolver,
    ) -> Step:
        """Ask one upstream about the pending searches worth asking (module docstring, steps 1-5)."""
        options = spec.options
        assert isinstance(options, CommonOptions)
        askable = [search for search in pending if worth_asking(search, latest[search], self.stop_at)]
        if not askable:
            return Step({}, SourceStats(spec.name))
        now = self.clock()
        with self.db.read() as conn:
            health = repo.health_of(conn, [spec.name]).get(spec.name)
        if gate(health, options, now) != "ok":
            return self._account(spec, SourceStats(spec.name, skipped=len(askable)), None, [], now)
        got, running = self._collect(spec, source, resolve_locally)
        collected = {s: a for s, a in got.items() if a.found}
        askable = [s for s in askable if s not in collected and search_key(s) not in running]
        keys = {search: search_key(search) for search in askable}
        with self.db.read() as conn:
            cached = repo.remembered_misses(conn, spec.name, keys.values(), now)
        ask = [search for search in askable if keys[search] not in cached]
        cached_count = len(askable) - len(ask)
        allowed, bound = allowance(self.db, spec.name, options, current_scope(), now)
        over_budget = max(0, len(ask) - allowed) if allowed is not None else 0
        ask = ask[: len(ask) - over_budget]
        if over_budget:
            total = len(ask) + over_budget
            log.info("source %s: %s budget allows %d of %d", spec.name, bound, len(ask), total)
        leases = Leases(self.db, spec.name, options.deadline_s + options.timeout_s)
        ask, others = leases.take(ask, now) if ask else ([], [])
        deadline = time.monotonic() + options.deadline_s
        answers: dict[Search, Answer] = {}
        stats = SourceStats(spec.name)
        lookup: Lookup | None = None
        misses: list[str] = []
        if ask:
            lookup = self._lookup(spec, source, ask, options)
            answers, stats = self._absorb(spec, ask, lookup, resolve_locally)
            misses = [
                keys[s] for s in ask if s in lookup.missed or (s in lookup.found and not answers[s].found)
            ]
        stats = replace(stats, cached_misses=cached_count, skipped=over_budget)
        step = self._account(spec, stats, lookup, misses, self.clock(), leases=leases)
        if others:
            answers.update(self._after_others(spec, others, keys, resolve_locally, deadline))
        return Step({**collected, **answers}, step.stats)

    def _after_others(
        self,
        spec: SourceSpec,
        others: list[Search],
        keys: Mapping[Search, str],
        resolve_locally: LocalResolver,
        deadline: float,
    ) -> dict[Search, Answer]:
        """Searches another worker was asking this source about: wait for it, then take its result
        (the number it kept, or the miss it remembered) instead of paying again. Whatever it did not
        conclude (it failed, or the deadline came) falls through to the next source."""
        Leases(self.db, spec.name, 0).wait_for_others(others, deadline, self.clock)
        answers = resolve_locally(others)
        unanswered = [s for s in others if not answers[s].found]
        with self.db.read() as conn:
            cached = repo.remembered_misses(conn, spec.name, [keys[s] for s in unanswered], self.clock())
        stats = SourceStats(spec.name, cached_misses=sum(1 for s in unanswered if keys[s] in cached))
        self._account(spec, stats, None, [], self.clock())
        return {s: a for s, a in answers.items() if a.found}

    def _collect(
        self, spec: SourceSpec, source: Source, resolve_locally: LocalResolver
    ) -> tuple[dict[Search, Answer], set[str]]:
        """Collect the source's batches left running at an earlier deadline (already paid for):
        their answers are kept like any other, and those older than ``collect_within_s`` are given up.
        Also the search keys of the batches still running: they are not asked again meanwhile."""
        collect = getattr(source, "collect", None)
        within_s = getattr(spec.options, "collect_within_s", 0.0)
        running: set[str] = set()
        if collect is None:
            return {}, running
        with self.db.read() as conn:
            batches = repo.open_batches(conn, spec.name)
        answers: dict[Search, Answer] = {}
        for batch in batches:
            now = self.clock()
            if now - batch.submitted_at > dt.timedelta(seconds=within_s):
                with self.db.write() as conn:
                    repo.close_batch(conn, batch.upstream_id, "expired", now)
                continue
            searches = [search_from_json(value) for value in batch.searches]
            lookup: Lookup | None = collect(batch.upstream_id, searches)
            if lookup is None:
                running.update(search_key(s) for s in searches)
                continue
            got, stats = self._absorb(spec, searches, lookup, resolve_locally)
            stats = replace(stats, searches=0, fell_through=0)
            keys = [search_key(s) for s in searches if s in lookup.missed or (s in got and not got[s].found)]
            self._account(spec, stats, None, keys, now, closing=batch.upstream_id, calls=lookup.calls)
            answers.update(got)
        return answers, running

    def _lookup(self, spec: SourceSpec, source: Source, ask: list[Search], options: CommonOptions) -> Lookup:
        started = time.monotonic()
        try:
            lookup = source.lookup_many(ask, started + options.deadline_s)
        except Exception as error:
            log.exception("source %s failed unexpectedly", spec.name)
            lookup = Lookup(errors=1, failure="error", error=f"internal error: {type(error).__name__}")
        if lookup.failure is not None:
            log.warning(
                "source %s: %s (%s); %d search(es) fall through",
                spec.name,
                lookup.failure,
                lookup.error,
                len(ask) - len(lookup.found) - len(lookup.missed),
            )
        return lookup

    def _absorb(
        self, spec: SourceSpec, ask: list[Search], lookup: Lookup, resolve_locally: LocalResolver
    ) -> tuple[dict[Search, Answer], SourceStats]:
        """Keep what the source reported, then resolve the searches it answered locally again."""
        reported = {s: list(found) for s, found in lookup.found.items() if s in set(ask)}
        usable = [s for s, found in reported.items() if choose(found, ()) is not None]
        if reported:
            local.keep(self.db, spec.name, reported)
        answers = resolve_locally(list(reported)) if reported else {}
        hits = sum(1 for search in usable if answers[search].found)
        answered = len(reported) + len(lookup.missed)
        stats = SourceStats(
            spec.name,
            requests=lookup.requests,
            searches=len(ask),
            hits=hits,
            misses=len(lookup.missed) + len(reported) - hits,
            rejected=len(reported) - len(usable),
            errors=lookup.errors,
            fell_through=max(0, len(ask) - answered),
            credits_spent=lookup.credits_spent,
        )
        return answers, stats

    def _account(
        self,
        spec: SourceSpec,
        stats: SourceStats,
        lookup: Lookup | None,
        misses: list[str],
        now: dt.datetime,
        *,
        closing: str | None = None,
        leases: Leases | None = None,
        calls: Sequence[Call] = (),
    ) -> Step:
        """The step's one write transaction: counters, misses, breaker, batches left running, one
        ``source_calls`` row per vendor request (``calls``: those of a collected batch), and the
        release of the step's leases."""
        calls = lookup.calls if lookup is not None else calls
        options = spec.options
        assert isinstance(options, CommonOptions)
        with self.db.write() as conn:
            if closing is not None and not repo.close_batch(conn, closing, "collected", now):
                return Step({}, SourceStats(spec.name))
            repo.add_stats(conn, stats, now.date())
            if misses and options.negative_ttl_days > 0:
                repo.remember_misses(
                    conn, spec.name, misses, now + dt.timedelta(days=options.negative_ttl_days)
                )
            if lookup is not None:
                health = repo.lock_health(conn, spec.name, now)
                repo.save_health(conn, after_step(health, lookup, options, now), now)
                for upstream_id, searches in lookup.unfinished.items():
                    repo.open_batch(conn, spec.name, upstream_id, [search_to_json(s) for s in searches], now)
            scope = current_scope()
            repo.record_calls(conn, spec.name, calls, now, scope.account_id if scope else None)
            if leases is not None:
                leases.release_in(conn)
        for call in calls:
            CALLS.labels(spec.name, call.outcome).inc()
            if call.billed:
                SPEND.labels(spec.name).inc(call.cost)
        for name, value in stats.as_row().items():
            if value:
                SOURCE_COUNTERS[name].labels(spec.name).inc(value)
        self._purge(spec.name, now)
        return Step({}, stats)

    def _purge(self, source: str, now: dt.datetime) -> None:
        """Drop the source's expired misses, in its own small transaction and best effort: a lock
        conflict with another worker's purge must not undo the step's accounting."""
        try:
            with self.db.write() as conn:
                repo.purge_expired_misses(conn, now, source)
        except Exception:
            log.warning("could not purge expired misses of source %s", source, exc_info=True)


def _price(spec: SourceSpec) -> float:
    return spec.options.price if isinstance(spec.options, VendorOptions) else 0.0


def from_settings(db: Database, settings: Settings) -> Waterfall | None:
    """The waterfall configured in ``settings``, or None when only the local store is configured.

    A source that is disabled, whose secret variables are not set, or that cannot be asked without
    ``TROVA_PUBLIC_URL`` (``apollo``) is left out (and logged); ``trova sources list`` shows why.
    """
    specs = configured_sources(settings)
    sources: dict[str, Source] = {}
    for spec in specs:
        if spec.kind == "local" or not spec.enabled:
            continue
        missing = missing_secrets(spec)
        if missing:
            log.error(
                "source %s is not used: environment variable(s) %s not set", spec.name, ", ".join(missing)
            )
            continue
        if reason := not_asked(spec, settings.public_url):
            log.error("source %s is %s", spec.name, reason)
            continue
        sources[spec.name] = build_source(spec, db=db, public_url=settings.public_url)
    waterfall = Waterfall(
        db,
        specs,
        sources,
        mode=settings.waterfall,
        explore=settings.waterfall_explore,
        stop_at=settings.waterfall_stop_at,
    )
    return waterfall if waterfall.has_upstreams else None
