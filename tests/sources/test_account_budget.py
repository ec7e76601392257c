"""Per-account upstream budgets (docs/finder.md §4.3): how much vendor spend an account's searches
may cause per month; a search that would exceed it skips the vendor, and ``trova explain`` says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.client.support import deployment
from tests.sources.provider import running
from tests.sources.support import resolve, waterfall
from tests.sources.vendors.fakes import FakePdl, Phone
from tests.sources.vendors.support import ENV, call_rows, linkedin, vendor_config, write_config
from tests.support.servers import run_trova
from trova.accounts import service as accounts
from trova.client import Client
from trova.finder.service import Finder
from trova.finder.upstream import SpendScope, spending_for
from trova.store import Database


def _account(db: Database, name: str) -> int:
    with db.write() as conn:
        return accounts.create_account(conn, name, credits=0).account.id


def test_an_account_budget_skips_the_vendor_once_spent_other_accounts_unaffected(db: Database) -> None:
    tight, free = _account(db, "tight"), _account(db, "free")
    with running(FakePdl()) as pdl:
        for slug in ("a1", "a2", "a3", "b1"):
            pdl.people[slug] = [Phone("+3361234567" + str(len(pdl.people)))]
        finder = Finder(db, waterfall(db, vendor_config("pdl", pdl, price=2.5), environ=ENV))
        with spending_for(SpendScope(tight, 5.0)):
            first = resolve(finder, [linkedin("a1"), linkedin("a2"), linkedin("a3")])
            later = resolve(finder, [linkedin("b1")])
        with spending_for(SpendScope(free, None)):
            other = resolve(finder, [linkedin("b1")])
    assert sum(a.found for a in first) == 2 and not later[0].found and other[0].found
    rows = call_rows(db, "pdl")
    assert sorted((row.account_id, row.cost) for row in rows) == [(tight, 2.5), (tight, 2.5), (free, 2.5)]


@pytest.mark.slow
def test_budget_set_by_the_cli_bounds_a_batch_and_explain_says_so(tmp_path: Path) -> None:
    with running(FakePdl()) as pdl:
        for slug in ("a1", "a2", "a3", "a4"):
            pdl.people[slug] = [Phone("+3361234567" + slug[-1])]
        config = write_config(tmp_path / "trova.toml", vendor_config("pdl", pdl, price=2.5))
        env = {**ENV, "TROVA_CONFIG": str(config)}
        with deployment(tmp_path / "server", env) as down:
            key = down.create_account("tight", credits=1_000)
            set_out = run_trova(
                "accounts", "upstream-budget", "tight", "--per-month", "5", env=down.env
            ).stdout
            with Client(key, down.base_url) as client:
                bulk = client.submit_bulk([linkedin(s) for s in ("a1", "a2", "a3")])
                done = client.wait_bulk(bulk.id, timeout_s=60, poll_interval_s=0.1)
            shown = run_trova("accounts", "upstream-budget", "tight", env=down.env).stdout
            args = ("explain", "--linkedin", "linkedin.com/in/a4", "--account", "tight")
            explained = run_trova(*args, env=down.env).stdout
    assert "upstream budget 5 per month" in set_out
    assert sum(r.number is not None for r in done.results) == 2
    assert done.stats.credits_cost == 2 * 40
    assert "spent this month 5" in shown
    assert "skipped now: account tight's upstream budget cannot pay its price" in explained
