"""The key cache: entries live for the TTL at most, and a committed rotation or withdrawal of phone
access empties every cache of the process, never before the commit."""

from __future__ import annotations

import dataclasses

import pytest

from trova.accounts import keycache
from trova.accounts import service as accounts
from trova.accounts.keycache import KeyCache
from trova.accounts.models import Account
from trova.store import Database


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def new_account(db: Database, name: str = "acme") -> tuple[Account, str]:
    with db.write() as conn:
        made = accounts.create_account(conn, name, credits=10)
    return made.account, made.api_key


def remembered(db: Database, cache: KeyCache, key: str) -> Account:
    generation = cache.generation
    with db.read() as conn:
        account = accounts.authenticate(conn, key, phone=True)
    accounts.remember_phone_account(cache, key, account, generation)
    return account


def test_an_entry_lives_for_the_ttl_and_no_longer(db: Database) -> None:
    clock = Clock()
    cache = KeyCache(5.0, clock)
    account, key = new_account(db)
    remembered(db, cache, key)
    clock.now += 4.999
    assert accounts.cached_phone_account(cache, key) == account
    clock.now += 0.001
    assert accounts.cached_phone_account(cache, key) is None


def test_nothing_is_kept_with_a_ttl_of_zero_or_for_an_account_without_phone_access(db: Database) -> None:
    account, key = new_account(db)
    off = KeyCache(0.0)
    remembered(db, off, key)
    assert accounts.cached_phone_account(off, key) is None
    cache = KeyCache(5.0)
    cache.put(accounts.hash_api_key(key), dataclasses.replace(account, phone_enabled=False), cache.generation)
    assert accounts.cached_phone_account(cache, key) is None
    assert accounts.cached_phone_account(cache, None) is None


@pytest.mark.parametrize("change", ["rotate", "disable"])
def test_a_committed_change_empties_every_cache_of_the_process(db: Database, change: str) -> None:
    caches = [keycache.register(KeyCache(60.0)), keycache.register(KeyCache(60.0))]
    account, key = new_account(db)
    for cache in caches:
        remembered(db, cache, key)
    with db.write() as conn:
        if change == "rotate":
            accounts.rotate_key(conn, account.id)
        else:
            accounts.set_phone_enabled(conn, account.id, False)
        assert all(accounts.cached_phone_account(cache, key) for cache in caches), "not before the commit"
    assert not any(accounts.cached_phone_account(cache, key) for cache in caches)


def test_a_rolled_back_change_empties_nothing(db: Database) -> None:
    cache = keycache.register(KeyCache(60.0))
    account, key = new_account(db)
    remembered(db, cache, key)
    with pytest.raises(RuntimeError), db.write() as conn:
        accounts.rotate_key(conn, account.id)
        raise RuntimeError("rolled back")
    assert accounts.cached_phone_account(cache, key) == account


def test_a_read_made_before_a_change_is_not_kept_after_it(db: Database) -> None:
    cache = keycache.register(KeyCache(60.0))
    account, key = new_account(db)
    generation = cache.generation
    with db.read() as conn:
        found = accounts.authenticate(conn, key, phone=True)
    with db.write() as conn:
        accounts.rotate_key(conn, account.id)
    accounts.remember_phone_account(cache, key, found, generation)
    assert accounts.cached_phone_account(cache, key) is None
