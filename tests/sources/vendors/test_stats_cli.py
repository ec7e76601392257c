"""``trova sources stats`` over the vendor call rows: asked, billed, found, hit rate, spend, cost per
found number, per source and per country; the same counters in ``/metrics``' registry."""

from __future__ import annotations

import json
from pathlib import Path

from prometheus_client import REGISTRY

from tests.sources.provider import running
from tests.sources.support import finder, resolve
from tests.sources.vendors.fakes import FakePdl, Phone
from tests.sources.vendors.support import ENV, linkedin, vendor_config, write_config
from tests.support.servers import run_trova
from trova.store import Database


def test_stats_show_spend_and_cost_per_found_number(db: Database, db_url: str, tmp_path: Path) -> None:
    with running(FakePdl()) as pdl:
        pdl.people["fr"] = [Phone("+33612345678")]
        pdl.people["de"] = [Phone("+4915112345678")]
        pdl.people["fr2"] = [Phone("+33698765432")]
        config = vendor_config("pdl", pdl, price=0.5)
        before = REGISTRY.get_sample_value("trova_source_spend_total", {"source": "pdl"}) or 0.0
        resolve(finder(db, config, environ=ENV), [linkedin(s) for s in ("fr", "de", "fr2", "none")])
        after = REGISTRY.get_sample_value("trova_source_spend_total", {"source": "pdl"})
        toml = write_config(tmp_path / "trova.toml", config)
    assert after == before + 1.5
    env = {"TROVA_CONFIG": str(toml), "TROVA_DATABASE_URL": db_url, **ENV}
    [row] = json.loads(run_trova("sources", "stats", "--json", env=env).stdout)
    assert {key: row[key] for key in ("asked", "billed", "found", "hit_rate", "spend", "cost_per_found")} == {
        "asked": 4,
        "billed": 3,
        "found": 3,
        "hit_rate": 0.75,
        "spend": 1.5,
        "cost_per_found": 0.5,
    }
    rows = json.loads(run_trova("sources", "stats", "--by", "country", "--json", env=env).stdout)
    by_country = [(r["country"], r["asked"], r["found"], r["spend"]) for r in rows]
    assert by_country == [("DE", 1, 1, 0.5), ("FR", 2, 2, 1.0), (None, 1, 0, 0.0)]
    future = json.loads(run_trova("sources", "stats", "--since", "2999-01-01", "--json", env=env).stdout)
    assert "asked" not in future[0]
    wrong = run_trova("sources", "stats", "--by", "city", env=env, check=False)
    assert wrong.returncode == 2 and "--by accepts only 'country'" in wrong.stderr
