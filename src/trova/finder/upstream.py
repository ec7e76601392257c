"""What the finder needs from the sources beyond the contact store: the :class:`Upstream` contract.

The finder defines the interface and receives an implementation from its entry point (``runtime``
builds ``sources.waterfall.from_settings`` and passes it to ``Finder``); it never imports
``sources`` nor reads the settings itself. ``sources.waterfall.Waterfall`` implements it
structurally; tests may pass any object with the same method.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol

from trova.people.models import Answer, Search

LocalResolver = Callable[[Sequence[Search]], dict[Search, Answer]]
"""The finder's local resolution (``Finder.resolve_locally``): the contact store's answer for each
distinct search, screened against the suppression list, in one read transaction."""


class Upstream(Protocol):
    """The sources asked, after the contact store, about the searches it did not
    answer (docs/finder.md §4)."""

    def complete(
        self,
        searches: Sequence[Search],
        local_answers: Mapping[Search, Answer],
        resolve_locally: LocalResolver,
    ) -> dict[Search, Answer]:
        """The answer for each distinct search of ``searches``: the local one, or a better one found upstream.

        Called once per ``Finder.resolve_many`` with the searches the contact store may be asked
        about (never one whose person or subject is suppressed) and ``local_answers``, the contact
        store's answer for each of them. An implementation:

        * returns a dict with exactly one answer for every distinct search of ``searches``, the
          local answer when nothing better was found;
        * keeps what an upstream reports in the contact store and builds its answers by calling
          ``resolve_locally`` on the searches it answered, so every number is validated, ranked
          and screened by the finder's own code (an answer made up otherwise is still screened by
          ``privacy.screen_answers`` after it, but would escape the ranking);
        * does not raise for an upstream failure or timeout: the searches concerned keep their
          local answer (an upstream outage never fails a batch);
        * is safe to call from the worker thread that owns the finder (one finder per thread).
        """
        ...


@dataclass(frozen=True, slots=True)
class SpendScope:
    """Whose searches the upstream is asked for: the account its calls are charged to, and how much
    upstream spend that account may cause per calendar month (None: no limit)."""

    account_id: int
    budget_per_month: float | None = None


_SCOPE: ContextVar[SpendScope | None] = ContextVar("trova_spend_scope", default=None)


@contextmanager
def spending_for(scope: SpendScope | None) -> Iterator[None]:
    """Resolve within ``scope``: an ``Upstream`` reads it with :func:`current_scope` to bound and
    attribute what its calls cost. A context variable rather than a parameter, so that every
    finder (and its test doubles) keeps the one ``resolve_many(searches)`` signature; it is per
    thread, and each worker thread resolves one chunk (one batch, one account) at a time."""
    token = _SCOPE.set(scope)
    try:
        yield
    finally:
        _SCOPE.reset(token)


def current_scope() -> SpendScope | None:
    """The scope set by the innermost :func:`spending_for` of this thread, if any."""
    return _SCOPE.get()
