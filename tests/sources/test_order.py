"""The cost order (docs/finder.md §4.7): vendors asked by expected cost per found number for the
search's country, measured from the call rows; exploration; ``stop_at = "mobile"``; ``trova explain``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from tests.sources.provider import running
from tests.sources.support import resolve, waterfall
from tests.sources.vendors.fakes import FakeLusha, FakePdl, Phone
from tests.sources.vendors.support import ENV, call_rows, vendor_config, write_config
from tests.support.servers import run_trova
from trova.finder.service import Finder
from trova.people.models import Search
from trova.people.normalise import search_from_params
from trova.sources import repository as repo
from trova.sources.models import Call
from trova.sources.order import MEASURED_AFTER, Estimate, choose_order, country_of_search
from trova.store import Database


def named(last: str, domain: str) -> dict[str, str]:
    return {"first_name": "Ada", "last_name": last, "company_domain": domain}


def test_the_search_country_is_its_company_domains_country_code() -> None:
    countries = [
        country_of_search(search_from_params(named("x", domain)))
        for domain in ("acme.fr", "acme.co.uk", "acme.com", "acme.io", "acme.de")
    ]
    assert countries == ["FR", "GB", None, None, "DE"]
    assert country_of_search(search_from_params({"linkedin_url": "linkedin.com/in/ada"})) is None


def test_unmeasured_vendors_keep_the_configured_order_then_the_cheapest_per_find() -> None:
    search = search_from_params(named("x", "acme.fr"))
    n = MEASURED_AFTER
    estimates = [
        Estimate("dear", 0, 10.0, outcomes=n, found=n // 2, spend=10.0 * (n // 2)),
        Estimate("fresh", 1, 5.0, outcomes=n - 1, found=1, spend=5.0),
        Estimate("cheap", 2, 1.0, outcomes=n, found=n // 5, spend=1.0 * n),
        Estimate("newer", 3, 9.0),
    ]
    choice = choose_order(search, estimates, explore=0.0)
    assert choice.vendors == ("fresh", "newer", "cheap", "dear")
    assert choice.country == "FR" and choice.explored is None
    assert "not yet measured in FR" in choice.reasons["fresh"]
    assert "5 per found number" in choice.reasons["cheap"]


def test_exploration_is_deterministic_per_search_and_near_its_share() -> None:
    estimates = [Estimate(name, i, 1.0) for i, name in enumerate("abcd")]
    searches = [search_from_params(named(f"p{i}", "acme.fr")) for i in range(4000)]
    explored = [choose_order(s, estimates, explore=0.05).explored for s in searches]
    again = [choose_order(s, estimates, explore=0.05).explored for s in searches]
    assert explored == again
    share = sum(e is not None for e in explored) / len(searches)
    assert 0.035 < share < 0.065
    assert {e for e in explored if e is not None} == set("abcd")
    assert all(choose_order(s, estimates, explore=0.0).explored is None for s in searches[:200])


def _seed(db: Database, source: str, country: str, outcomes: int, found: int, spend_each: float) -> None:
    calls = [
        Call(
            search=Search(linkedin_key=f"{source}-seed-{i}"),
            outcome="found" if i < found else "no_match",
            billed=True,
            cost=spend_each,
            latency_ms=1,
            search_country=country,
        )
        for i in range(outcomes)
    ]
    with db.write() as conn:
        repo.record_calls(conn, source, calls, dt.datetime(2026, 1, 1))


def test_cost_order_asks_the_cheapest_measured_vendor_first_per_country(db: Database) -> None:
    with running(FakePdl()) as pdl, running(FakeLusha()) as lusha:
        for fake in (pdl, lusha):
            fake.people["fr"] = [Phone("+33612345678")]
            fake.people["de"] = [Phone("+4915112345678")]
        _seed(db, "pdl", "FR", 60, 30, 10.0)
        _seed(db, "lusha", "FR", 60, 30, 2.0)
        configs = (vendor_config("pdl", pdl, price=10), vendor_config("lusha", lusha, price=2))
        upstream = waterfall(db, *configs, environ=ENV)
        upstream.mode, upstream.explore = "cost", 0.0
        answers = resolve(Finder(db, upstream), [named("fr", "acme.fr"), named("de", "acme.de")])
        configured = waterfall(db, *configs, environ=ENV)
        [again] = resolve(Finder(db, configured), [named("fr", "other.fr")])
    assert [a.sources for a in answers] == [("lusha",), ("pdl",)]
    assert again.sources == ("pdl",)
    live = [(row.source, row.search_country) for row in call_rows(db) if row.request_id]
    assert sorted(live) == [("lusha", "FR"), ("pdl", "DE"), ("pdl", "FR")]


def test_stop_at_mobile_asks_past_a_landline_never_past_a_mobile(db: Database) -> None:
    with running(FakePdl()) as pdl, running(FakeLusha()) as lusha:
        pdl.people["desk"] = [Phone("+33142685300", kind="landline")]
        pdl.people["cell"] = [Phone("+33612345678")]
        lusha.people["desk"] = [Phone("+33698765432")]
        lusha.people["cell"] = [Phone("+33611111111")]
        configs = (vendor_config("pdl", pdl), vendor_config("lusha", lusha))
        searches = [named("desk", "acme.fr"), named("cell", "acme.fr")]
        upstream = waterfall(db, *configs, environ=ENV)
        upstream.stop_at = "mobile"
        answers = resolve(Finder(db, upstream), searches)
        asked_lusha = [r.query.get("lastName", [""])[0] for r in lusha.received]
    assert [(a.number, a.line_type) for a in answers] == [
        ("+33698765432", "mobile"),
        ("+33612345678", "mobile"),
    ]
    assert asked_lusha == ["desk"]


def test_a_landline_settles_the_search_by_default(db: Database) -> None:
    with running(FakePdl()) as pdl, running(FakeLusha()) as lusha:
        pdl.people["desk"] = [Phone("+33142685300", kind="landline")]
        lusha.people["desk"] = [Phone("+33698765432")]
        configs = (vendor_config("pdl", pdl), vendor_config("lusha", lusha))
        [answer] = resolve(Finder(db, waterfall(db, *configs, environ=ENV)), [named("desk", "acme.fr")])
        assert (answer.number, answer.line_type, len(lusha.received)) == ("+33142685300", "fixed_line", 0)


def test_explain_shows_the_order_chosen_and_why(db: Database, db_url: str, tmp_path: Path) -> None:
    _seed(db, "pdl", "FR", 60, 30, 10.0)
    _seed(db, "lusha", "FR", 60, 30, 2.0)
    with running(FakePdl()) as pdl, running(FakeLusha()) as lusha:
        config = write_config(
            tmp_path / "trova.toml",
            vendor_config("pdl", pdl, price=10),
            vendor_config("lusha", lusha, price=2),
        )
    config.write_text('waterfall = "cost"\nwaterfall_explore = 0\n\n' + config.read_text())
    env = {"TROVA_CONFIG": str(config), "TROVA_DATABASE_URL": db_url, **ENV}
    args = ("explain", "--first", "Ada", "--last", "Byron", "--domain", "acme.fr")
    text = run_trova(*args, env=env).stdout
    body = json.loads(run_trova(*args, "--json", env=env).stdout)
    assert "Vendors, in asking order (cost order, search country FR, stop at found):" in text
    assert body["upstream_order"]["vendors"] == ["lusha", "pdl"]
    assert body["upstream_order"]["why"][0].startswith("1. lusha: 4 per found number in FR (60 outcomes")
