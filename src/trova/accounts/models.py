"""Values of the accounts domain: accounts, credit splits and ledger entries."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

LedgerKind = Literal["topup", "reserve", "refund"]
CreditSource = Literal["sub", "paygo"]

KEY_PREFIX = "trova_"
WEBHOOK_SECRET_PREFIX = "whsec_"
WEBHOOK_SECRET_BYTES = 32


@dataclass(frozen=True, slots=True)
class Account:
    """An account as the API and the operator commands see it (never the key itself)."""

    id: int
    name: str
    key_prefix: str
    sub_credits: int
    paygo_credits: int
    phone_enabled: bool
    webhook_url: str | None
    created_at: dt.datetime
    upstream_budget_per_month: float | None = None
    """How much upstream (vendor) spend this account's searches may cause per calendar month, in the
    vendors' price unit (None: no limit)."""

    @property
    def credits(self) -> int:
        """The spendable total: subscription plus pay-as-you-go."""
        return self.sub_credits + self.paygo_credits


@dataclass(frozen=True, slots=True)
class Split:
    """How many credits come from (or go back to) each pool."""

    sub: int
    paygo: int

    @property
    def total(self) -> int:
        return self.sub + self.paygo

    @property
    def source(self) -> CreditSource:
        """``sub`` when everything came from subscription credits, ``paygo`` otherwise (docs/api.md §5)."""
        return "sub" if self.paygo == 0 else "paygo"

    def as_credits(self) -> dict[str, object]:
        """The ``credits`` object of a 201 answer."""
        return {
            "amount": self.total,
            "source": self.source,
            "split": {"fromSub": self.sub, "fromPaygo": self.paygo},
        }


@dataclass(frozen=True, slots=True)
class SearchRefund:
    """One search's reserved credits given back to the pools they came from."""

    account_id: int
    batch_id: str
    search_id: str
    split: Split
    note: str


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    id: int
    kind: LedgerKind
    batch_id: str | None
    search_id: str | None
    sub_delta: int
    paygo_delta: int
    note: str | None
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class NewAccount:
    """What ``create`` hands back once: the account and its key in clear (stored only hashed)."""

    account: Account
    api_key: str
    webhook_secret: str


@dataclass(frozen=True, slots=True)
class AccountBalance:
    """An account's balances, and the balances its ledger implies, as compared by the copy's check."""

    account_id: int
    sub_credits: int
    paygo_credits: int
    ledger_sub: int
    ledger_paygo: int


@dataclass(frozen=True, slots=True)
class BalancesVerified:
    """What :func:`~trova.accounts.service.verify_copied_balances` found equal: how many accounts,
    holding how many credits in all."""

    accounts: int
    credits: int
