"""Accounts, API keys and credits: creation, authentication, top-ups, reservations and refunds.

Keys are ``trova_`` + 256 random bits, shown once and stored only as their SHA-256 hex digest. A
lookup goes by digest (indexed) and is confirmed with :func:`hmac.compare_digest`. Each account
also holds the secret its webhooks are signed with (``webhooks.signing``), created here with the
account and rotated by ``webhooks.service``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Collection, Sequence
from functools import partial

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from trova.accounts import keycache
from trova.accounts import repository as repo
from trova.accounts.models import (
    KEY_PREFIX,
    WEBHOOK_SECRET_BYTES,
    WEBHOOK_SECRET_PREFIX,
    Account,
    AccountBalance,
    BalancesVerified,
    LedgerEntry,
    LedgerKind,
    NewAccount,
    SearchRefund,
    Split,
)
from trova.errors import (
    AccountExists,
    DatabaseCopyError,
    InsufficientCredits,
    InvalidApiKey,
    MissingApiKey,
    PhoneFeatureDisabled,
    UnknownAccount,
)
from trova.store import utcnow
from trova.store.engine import TRANSACTION_STATE, after_commit, before_commit, on_rollback


def new_api_key() -> str:
    """``trova_`` followed by 32 random bytes, URL-safe base64 (256 bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def new_webhook_secret() -> str:
    """A fresh Standard Webhooks secret: ``whsec_`` and base64 of 32 random bytes."""
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(WEBHOOK_SECRET_BYTES)).decode("ascii")


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8", "surrogatepass")).hexdigest()


def key_prefix(api_key: str) -> str:
    """The first characters of a key, shown by ``accounts list`` to tell keys apart."""
    return api_key[:12]


def create_account(
    conn: Connection, name: str, *, credits: int = 0, paygo: int = 0, webhook_url: str | None = None
) -> NewAccount:
    """A new account with its first key and webhook secret; the initial credits are a ``topup``."""
    if repo.account_by_name(conn, name) is not None:
        raise AccountExists()
    api_key = new_api_key()
    secret = new_webhook_secret()
    try:
        account_id = repo.insert_account(
            conn,
            name=name,
            key_hash=hash_api_key(api_key),
            key_prefix=key_prefix(api_key),
            webhook_url=webhook_url,
            webhook_secret=secret,
            now=utcnow(),
        )
    except sa.exc.IntegrityError as exc:
        raise AccountExists() from exc
    if credits or paygo:
        topup(conn, account_id, Split(sub=credits, paygo=paygo), note="initial credits")
    account = repo.account_by_id(conn, account_id)
    assert account is not None
    return NewAccount(account=account, api_key=api_key, webhook_secret=secret)


def find_account(conn: Connection, name: str) -> Account | None:
    return repo.account_by_name(conn, name)


def list_accounts(conn: Connection) -> list[Account]:
    return repo.list_accounts(conn)


def get_account(conn: Connection, account_id: int) -> Account | None:
    return repo.account_by_id(conn, account_id)


def get_accounts(conn: Connection, account_ids: Collection[int]) -> dict[int, Account]:
    """The accounts of these ids that exist, by id."""
    return repo.accounts_by_id(conn, account_ids)


def require_account(conn: Connection, name: str) -> Account:
    account = repo.account_by_name(conn, name)
    if account is None:
        raise UnknownAccount(f"No such account: {name}")
    return account


def topup(conn: Connection, account_id: int, amount: Split, *, note: str | None = None) -> None:
    """Add credits to both pools and record one ``topup`` ledger row."""
    if amount.total == 0:
        return
    repo.add_credits(conn, account_id, amount)
    repo.insert_ledger_entry(conn, account_id=account_id, kind="topup", delta=amount, now=utcnow(), note=note)


def rotate_key(conn: Connection, account_id: int) -> str:
    """Replace the account's key; the old one stops working when the transaction commits (in API
    processes other than this one, within ``TROVA_AUTH_CACHE_TTL_S``: :mod:`trova.accounts.keycache`)."""
    api_key = new_api_key()
    repo.set_key(conn, account_id, key_hash=hash_api_key(api_key), key_prefix=key_prefix(api_key))
    after_commit(conn, keycache.forget_everywhere)
    return api_key


def set_upstream_budget(conn: Connection, account_id: int, per_month: float | None) -> None:
    """Set (None: remove) the upstream spend this account's searches may cause per month."""
    repo.set_upstream_budget(conn, account_id, per_month)


def set_phone_enabled(conn: Connection, account_id: int, enabled: bool) -> None:
    repo.set_phone_enabled(conn, account_id, enabled)
    if not enabled:
        after_commit(conn, keycache.forget_everywhere)


def authenticate(conn: Connection, api_key: str | None, *, phone: bool) -> Account:
    """The account owning ``api_key``; raises the spec's 401 texts.

    ``phone`` is True on the phone endpoints, which a phone-disabled account may not use.
    """
    if not api_key:
        raise MissingApiKey()
    digest = hash_api_key(api_key)
    found = repo.account_and_hash_by_key_hash(conn, digest)
    if found is None or not hmac.compare_digest(found[1], digest):
        raise InvalidApiKey()
    account = found[0]
    if phone and not account.phone_enabled:
        raise PhoneFeatureDisabled()
    return account


def cached_phone_account(cache: keycache.KeyCache, api_key: str | None) -> Account | None:
    """The phone-enabled account ``api_key`` authenticated less than the cache's TTL ago, if any:
    vouches for its id and phone access only (balances are read fresh where they matter)."""
    return cache.get(hash_api_key(api_key)) if api_key else None


def remember_phone_account(cache: keycache.KeyCache, api_key: str, account: Account, generation: int) -> None:
    """Keep what :func:`authenticate` just found for ``api_key`` (``generation``: the cache's, taken
    before the read)."""
    cache.put(hash_api_key(api_key), account, generation)


def split_reservation(account: Account, amount: int) -> Split:
    """Subscription credits first, then pay-as-you-go; raises 402 when the total does not cover it."""
    return _split_from(Split(sub=account.sub_credits, paygo=account.paygo_credits), amount)


def _split_from(balances: Split, amount: int) -> Split:
    if amount > balances.total:
        raise InsufficientCredits()
    from_sub = min(amount, balances.sub)
    return Split(sub=from_sub, paygo=amount - from_sub)


def reserve(conn: Connection, account_id: int, amount: int, *, batch_id: str) -> Split:
    """Take ``amount`` credits for a batch inside the submit transaction and record one ``reserve`` row.

    The account row is locked first, so the split is computed from balances no one else can change
    before commit; the conditional update is the last line of defence that keeps balances ≥ 0.
    """
    split, _left = _take_locked(conn, account_id, amount)
    _insert_reserve_entry(conn, account_id, split, batch_id)
    return split


def _take_locked(conn: Connection, account_id: int, amount: int) -> tuple[Split, Split]:
    """Lock the account row, split ``amount`` from its balances and take it (402 when they fall
    short); (the split taken, the balances left)."""
    account = repo.lock_account(conn, account_id)
    if account is None:
        raise InvalidApiKey()
    split = split_reservation(account, amount)
    if not repo.take_credits(conn, account_id, split):
        raise InsufficientCredits()
    return split, Split(sub=account.sub_credits - split.sub, paygo=account.paygo_credits - split.paygo)


_LEFT = TRANSACTION_STATE + "credits_left"
_OWED = TRANSACTION_STATE + "credits_owed"


def take(conn: Connection, account: Account, amount: int, *, batch_id: str) -> Split:
    """Take ``amount`` credits for a batch first thing, its ``reserve`` row inserted at the commit:
    the split is known before the batch's rows, which are then written once with it, at the commit
    too (a single search: ``batches.service.submit``).

    The first take of an account in a transaction updates its row: the split the snapshot
    ``account`` gives, by one conditional ``UPDATE … RETURNING`` the balances left; when the
    balances moved since, the row is locked and the split computed again as :func:`reserve` does
    (402 when they no longer cover it). The row is then held until the commit, so the takes after it
    in the same transaction (the POSTs sharing a group commit) split from the balances it left,
    kept beside the transaction, and what they take is subtracted by one update at the commit
    (:func:`~trova.store.engine.before_commit`, in account order): one statement for each account
    of a group where there was one for each POST. Nothing else may change the balances of an
    account in a transaction that takes from it this way (the update at the commit would find
    them short and fail the transaction)."""
    left: dict[int, Split] = conn.info.setdefault(_LEFT, {})
    before = left.get(account.id)
    if before is None:
        split, after = _take_from_row(conn, account, amount)
    else:
        split = _split_from(before, amount)
        _owe(conn, account.id, split)
        after = Split(sub=before.sub - split.sub, paygo=before.paygo - split.paygo)
    left[account.id] = after
    on_rollback(conn, partial(_restore, left, account.id, before))
    _insert_reserve_entry(conn, account.id, split, batch_id, at_commit=True)
    return split


def _take_from_row(conn: Connection, account: Account, amount: int) -> tuple[Split, Split]:
    """(the split taken, the balances left) by an update of the account row."""
    provisional = provisional_split(account, amount)
    if provisional is not None:
        left = repo.take_as_split(conn, account.id, provisional)
        if left is not None:
            return provisional, left
    return _take_locked(conn, account.id, amount)


def _owe(conn: Connection, account_id: int, split: Split) -> None:
    owed: dict[int, Split] = conn.info.setdefault(_OWED, {})
    before = owed.get(account_id)
    if before is None:
        before_commit(conn, partial(_pay_owed, conn, account_id), order=account_id)
        owed[account_id] = split
    else:
        owed[account_id] = Split(sub=before.sub + split.sub, paygo=before.paygo + split.paygo)
    on_rollback(conn, partial(_restore, owed, account_id, before))


def _pay_owed(conn: Connection, account_id: int) -> None:
    if not repo.take_credits(conn, account_id, conn.info[_OWED].pop(account_id)):
        raise InsufficientCredits()  # the balances changed beside the takes (:func:`take`)


def _restore(balances: dict[int, Split], account_id: int, before: Split | None) -> None:
    if before is None:
        balances.pop(account_id, None)
    else:
        balances[account_id] = before


def _insert_reserve_entry(
    conn: Connection, account_id: int, split: Split, batch_id: str, *, at_commit: bool = False
) -> None:
    repo.insert_ledger_entry(
        conn,
        account_id=account_id,
        kind="reserve",
        delta=Split(sub=-split.sub, paygo=-split.paygo),
        batch_id=batch_id,
        now=utcnow(),
        at_commit=at_commit,
    )


def provisional_split(account: Account, amount: int) -> Split | None:
    """The split of ``amount`` that the balances of the snapshot ``account`` give; None when they do
    not cover it (the snapshot may be older than a top-up: only :func:`reserve` refuses with 402)."""
    if amount > account.credits:
        return None
    return split_reservation(account, amount)


def reserve_last(conn: Connection, account_id: int, provisional: Split, *, batch_id: str) -> Split:
    """Take a batch's credits as the last statement of its submit transaction; returns the split taken.

    The batch's rows were written with ``provisional`` (from :func:`provisional_split`); its
    ``reserve`` row is written here, then the balances are updated only if ``provisional`` is still
    the split they give (:func:`~trova.accounts.repository.take_as_split`). So the account row is
    held from that update to the commit, not for the whole transaction, and concurrent submissions
    of one account queue only for each other's commit. When the balances moved meanwhile, the row is
    locked and the split computed again as :func:`reserve` does (402 when they no longer cover it);
    the caller rewrites its rows when the split it gets back differs from ``provisional``.
    """
    _insert_reserve_entry(conn, account_id, provisional, batch_id)
    if repo.take_as_split(conn, account_id, provisional) is not None:
        return provisional
    split, _left = _take_locked(conn, account_id, provisional.total)
    repo.set_reserve_entry(conn, batch_id, split)
    return split


def refund(
    conn: Connection, account_id: int, *, batch_id: str, refunds: Sequence[tuple[str, Split]], note: str
) -> Split:
    """Refund searches of one batch (:func:`refund_searches`); returns what was given back."""
    given = refund_searches(
        conn, [SearchRefund(account_id, batch_id, search_id, split, note) for search_id, split in refunds]
    )
    return given.get(account_id, Split(sub=0, paygo=0))


def refund_searches(conn: Connection, refunds: Sequence[SearchRefund]) -> dict[int, Split]:
    """Refund searches to the pools their reservation came from; idempotent per search. Returns,
    per account, what was given back.

    The ledger rows are written at once, the balances credited as the transaction's last statements
    (:func:`~trova.store.engine.before_commit`, in account order): a job step then holds the
    accounts' rows only for its commit, not while it records the rest of its results, and the
    accounts' POSTs, which take those rows too, wait that much less on PostgreSQL."""
    given = repo.insert_refunds(conn, refunds, now=utcnow())
    for account_id, split in given.items():
        before_commit(conn, partial(repo.add_credits, conn, account_id, split), order=account_id)
    return given


def per_search_splits(total: Split, price: int, count: int) -> list[Split]:
    """Assign a batch's reservation to its searches in index order, subscription part first.

    Search ``i`` takes its price from what is left of the subscription part, the rest from
    pay-as-you-go, so each refund returns exactly to the pool its credits came from. The searches
    paid alike share one (immutable) :class:`Split`: a batch holds up to 3,000 of them.
    """
    whole, rest = divmod(total.sub, price) if price > 0 else (count, 0)
    splits = [Split(sub=price, paygo=0)] * min(whole, count)
    if len(splits) < count and rest:
        splits.append(Split(sub=rest, paygo=price - rest))
    return splits + [Split(sub=0, paygo=price)] * (count - len(splits))


def ledger(conn: Connection, account_id: int, *, limit: int | None = None) -> list[LedgerEntry]:
    return repo.ledger_for_account(conn, account_id, limit=limit)


def batch_ledger_totals(conn: Connection, batch_id: str) -> dict[LedgerKind, Split]:
    """Per ledger kind, the credits moved for one batch (``reserve`` negative, ``refund`` positive)."""
    return repo.batch_ledger_totals(conn, batch_id)


def ledger_balance(conn: Connection, account_id: int) -> Split:
    """The balances implied by the ledger alone (they always equal the account's balances)."""
    return repo.ledger_balance(conn, account_id)


def balances(conn: Connection) -> list[AccountBalance]:
    """Every account's stored balances beside the sums of its ledger, by account id."""
    found = []
    for account in repo.list_accounts(conn):
        ledger = repo.ledger_balance(conn, account.id)
        found.append(
            AccountBalance(
                account_id=account.id,
                sub_credits=account.sub_credits,
                paygo_credits=account.paygo_credits,
                ledger_sub=ledger.sub,
                ledger_paygo=ledger.paygo,
            )
        )
    return found


def verify_copied_balances(source: Connection, target: Connection) -> BalancesVerified:
    """``trova db copy``'s check: every account has the same balances and ledger sums in ``target``
    as in ``source``; raises :class:`~trova.errors.DatabaseCopyError` naming those that differ."""
    source_balances, target_balances = balances(source), balances(target)
    if source_balances != target_balances:
        differing = sorted(
            {b.account_id for b in set(source_balances).symmetric_difference(target_balances)}
        )
        raise DatabaseCopyError(f"verification failed: balances differ for account ids {differing}")
    credits = sum(b.sub_credits + b.paygo_credits for b in target_balances)
    return BalancesVerified(accounts=len(target_balances), credits=credits)
