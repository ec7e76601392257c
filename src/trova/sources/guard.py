"""What keeps the waterfall from spending badly: budgets, and one vendor call per person at a time.

**Budgets.** A vendor source's ``budget_per_day`` / ``budget_per_month`` (in ``price`` units, UTC
day and calendar month) bound what it may be billed, counted from its ``source_calls`` rows: a step
asks at most as many searches as the budget left can pay for at ``price`` each (every one might be
billed), and the rest fall through to the next source.

**Per account.** An account's ``upstream_budget_per_month`` bounds what its searches may cost
across every vendor (``source_calls.account_id``): a step asks a vendor at most as many of the
account's searches as the budget left pays for at the vendor's ``price``.

**The breaker** (:func:`gate`, :func:`after_step`): a source that keeps failing, ran out of
credits, is rate limited or refused its key is skipped for a while.

**Leases.** Before a source is asked about a person (a search key), the step takes a lease on
``(source, key)`` in the database. A search whose person another worker — another thread, batch or
process — is asking that source about right now is not sent: the step waits for that lease to go,
then takes what the other call produced (its number is in the contact store, or its miss in the
negative cache). So two searches for one person in flight at once cause one vendor call.
"""

from __future__ import annotations

import datetime as dt
import math
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace

from sqlalchemy.engine import Connection

from trova.finder.upstream import SpendScope
from trova.people.models import Search
from trova.sources import repository as repo
from trova.sources.config import CommonOptions, VendorOptions
from trova.sources.models import Health, Lookup, SourceHealth, search_key
from trova.store import Database

LEASE_POLL_S = 0.05
"""How often a step waiting for another worker's lease looks again."""


def budget_left(db: Database, source: str, options: CommonOptions, now: dt.datetime) -> int | None:
    """How many more searches the source's budgets allow now (None: no budget configured)."""
    if not isinstance(options, VendorOptions):
        return None
    limits: list[tuple[float, dt.datetime]] = []
    day = dt.datetime(now.year, now.month, now.day)
    if options.budget_per_day is not None:
        limits.append((options.budget_per_day, day))
    if options.budget_per_month is not None:
        limits.append((options.budget_per_month, day.replace(day=1)))
    if not limits:
        return None
    with db.read() as conn:
        left = min(budget - repo.spend_since(conn, source, since) for budget, since in limits)
    if left <= 0:
        return 0
    return math.floor(left / options.price + 1e-9) if options.price > 0 else None


def month_start(now: dt.datetime) -> dt.datetime:
    return dt.datetime(now.year, now.month, 1)


def account_left(db: Database, scope: SpendScope | None, now: dt.datetime) -> float | None:
    """What the account's monthly upstream budget has left (None: no account or no budget)."""
    if scope is None or scope.budget_per_month is None:
        return None
    with db.read() as conn:
        spent = repo.account_spend_since(conn, scope.account_id, month_start(now))
    return max(0.0, scope.budget_per_month - spent)


def allowance(
    db: Database, source: str, options: CommonOptions, scope: SpendScope | None, now: dt.datetime
) -> tuple[int | None, str]:
    """How many searches a step may ask ``source`` about (None: any number), and which budget
    bounds it (``source``, ``account``). An account's budget bounds only vendor kinds, whose calls
    are priced and recorded."""
    allowed = budget_left(db, source, options, now)
    left = account_left(db, scope, now) if isinstance(options, VendorOptions) else None
    if left is None or not isinstance(options, VendorOptions) or options.price <= 0:
        return allowed, "source"
    by_account = math.floor(left / options.price + 1e-9)
    if allowed is None or by_account < allowed:
        return by_account, "account"
    return allowed, "source"


class Leases:
    """The leases one step holds on its source's person keys."""

    def __init__(self, db: Database, source: str, hold_s: float) -> None:
        self.db = db
        self.source = source
        self.holder = uuid.uuid4().hex
        self.hold_s = hold_s

    def take(self, searches: Sequence[Search], now: dt.datetime) -> tuple[list[Search], list[Search]]:
        """(the searches this step may ask about, those someone else is asking about now)."""
        keys = {search: search_key(search) for search in searches}
        until = now + dt.timedelta(seconds=self.hold_s)
        with self.db.write() as conn:
            held = repo.acquire_leases(conn, self.source, set(keys.values()), self.holder, now, until)
        mine = [search for search in searches if keys[search] in held]
        return mine, [search for search in searches if keys[search] not in held]

    def wait_for_others(
        self, searches: Sequence[Search], deadline: float, clock: Callable[[], dt.datetime]
    ) -> bool:
        """Wait until nobody holds a lease on these searches (True), or the deadline (False)."""
        keys = {search_key(search) for search in searches}
        while True:
            with self.db.read() as conn:
                if not repo.leased(conn, self.source, keys, clock()):
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(LEASE_POLL_S)

    def release_in(self, conn: Connection) -> None:
        """Drop this step's leases in the caller's transaction (the one accounting for the calls)."""
        repo.release_leases(conn, self.source, self.holder)


def gate(health: SourceHealth | None, options: CommonOptions, now: dt.datetime) -> Health:
    """``ok`` when the source may be asked now, else why it is skipped."""
    if health is None:
        return "ok"
    if health.disabled_at is not None:
        return "disabled"
    if health.exhausted_at is not None and now < health.exhausted_at + dt.timedelta(
        seconds=options.exhausted_recheck_s
    ):
        return "exhausted"
    if health.backoff_until is not None and now < health.backoff_until:
        return "backing_off"
    if health.open_until is not None and now < health.open_until:
        return "open"
    return "ok"


def after_step(
    health: SourceHealth, lookup: Lookup, options: CommonOptions, now: dt.datetime
) -> SourceHealth:
    """The breaker's next state after a step: success closes it; errors and deadlines count towards
    opening it for ``circuit_open_s``; a 402 marks exhaustion; a 429 backs off for its Retry-After."""
    if lookup.failure is None:
        return replace(
            health,
            consecutive_failures=0,
            open_until=None,
            exhausted_at=None,
            backoff_until=None,
            last_success_at=now,
        )
    failed = replace(health, last_error=(lookup.error or lookup.failure)[:500], last_error_at=now)
    if lookup.failure == "bad_key":
        return replace(failed, disabled_at=now, disabled_reason=(lookup.error or "the key was refused")[:500])
    if lookup.failure == "exhausted":
        return replace(failed, exhausted_at=now)
    if lookup.failure == "rate_limited":
        wait_s = lookup.retry_after_s if lookup.retry_after_s is not None else options.circuit_open_s
        return replace(failed, backoff_until=now + dt.timedelta(seconds=max(wait_s, 1.0)))
    failures = health.consecutive_failures + 1
    open_until = (
        now + dt.timedelta(seconds=options.circuit_open_s) if failures >= options.circuit_failures else None
    )
    return replace(failed, consecutive_failures=failures, open_until=open_until or health.open_until)
