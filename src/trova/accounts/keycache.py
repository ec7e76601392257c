"""Who owns each recently used API key, kept for a few seconds so a busy client's requests skip
the key's read (``TROVA_AUTH_CACHE_TTL_S``, 0 turns it off).

Keyed by the key's SHA-256 digest; only keys that passed (an account with phone access) are kept,
so a wrong key, or an account without phone access, is read from the database every time, and
granting phone access works at once. What the cache vouches for is the account's identity and its
phone access; balances and the webhook URL are always read fresh by whoever needs them (the credit
reservation locks the account row; ``/account/info`` never uses the cache).

A key rotated, or phone access withdrawn, in this process empties the cache once that transaction
has committed (:func:`trova.store.engine.after_commit`); done by another process (the CLI, another
API process), the old entry lives on for at most the TTL: that TTL is how long a rotated or
disabled key may still be accepted. An entry read before such a commit is never stored after it
(the generation check of :meth:`KeyCache.put`), so a slow reader cannot bring an old key back.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable

from trova.accounts.models import Account

MAX_ENTRIES = 10_000
"""Past it the cache starts again empty: a bound on memory, never reached by real clients."""


class KeyCache:
    """Key digest → the account it authenticated, for ``ttl_s`` seconds (module docstring)."""

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._entries: dict[str, tuple[float, Account]] = {}
        self._generation = 0
        self._lock = threading.Lock()

    @property
    def generation(self) -> int:
        """Taken before reading a key, handed back to :meth:`put`."""
        return self._generation

    def get(self, digest: str) -> Account | None:
        """The account ``digest`` authenticated less than ``ttl_s`` ago, else None."""
        entry = self._entries.get(digest)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            self._entries.pop(digest, None)
            return None
        return entry[1]

    def put(self, digest: str, account: Account, generation: int) -> None:
        """Keep ``account`` for ``digest``, unless the cache was emptied since ``generation``."""
        if self.ttl_s <= 0 or not account.phone_enabled:
            return
        with self._lock:
            if generation != self._generation:
                return
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[digest] = (self._clock() + self.ttl_s, account)

    def forget_all(self) -> None:
        """Empty the cache (a key was rotated or an account lost phone access)."""
        with self._lock:
            self._generation += 1
            self._entries.clear()


_process_caches: weakref.WeakSet[KeyCache] = weakref.WeakSet()


def register(cache: KeyCache) -> KeyCache:
    """Make ``cache`` one that :func:`forget_everywhere` empties (each app of the process has one)."""
    _process_caches.add(cache)
    return cache


def forget_everywhere() -> None:
    """Empty every cache of this process: called after a rotation or withdrawal commits."""
    for cache in list(_process_caches):
        cache.forget_all()
