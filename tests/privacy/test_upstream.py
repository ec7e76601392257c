"""Suppression applies to upstream sources: a second ``trova serve`` is the ``enrow`` upstream."""

from __future__ import annotations

from pathlib import Path

from tests.cli.test_privacy import CONTACTS, bulk, credits, start_site
from tests.privacy.support import (
    ADA_BY_URL,
    ADA_PHONE,
    BOB_BY_URL,
    BOB_PHONE,
    CARL_BY_NAME,
    CARL_PHONE,
    rows_holding,
    write_csv,
)
from trova.store import Database


def test_upstream_answers_obey_the_suppression_list_and_suppressed_people_are_not_sent(
    tmp_path: Path,
) -> None:
    (tmp_path / "up").mkdir()
    (tmp_path / "down").mkdir()
    upstream = start_site(tmp_path / "up")
    upstream.cli("import", str(write_csv(tmp_path / "up" / "crm.csv", CONTACTS)))
    with upstream.server:
        upstream_key = upstream.account("downstream", credits=10_000)
        config = tmp_path / "down" / "trova.toml"
        config.write_text(
            '[[sources]]\nname = "local"\nkind = "local"\n\n'
            '[[sources]]\nname = "upstream"\nkind = "enrow"\n'
            f'base_url = "{upstream.server.base_url}"\napi_key_env = "UPSTREAM_KEY"\n'
            "poll_interval_s = 0.05\nnegative_ttl_days = 0\n",
            encoding="utf-8",
        )
        downstream = start_site(
            tmp_path / "down", {"TROVA_CONFIG": str(config), "UPSTREAM_KEY": upstream_key}
        )
        downstream.cli("suppress", "--phone", ADA_PHONE)
        downstream.cli("suppress", "--linkedin", BOB_BY_URL["linkedin_url"])
        with downstream.server:
            key = downstream.account("client")
            result = bulk(downstream, key, [ADA_BY_URL, BOB_BY_URL, CARL_BY_NAME])
            assert [row["qualification"] for row in result["results"]] == ["not_found", "not_found", "found"]
            assert result["results"][2]["number"] == CARL_PHONE
            assert credits(downstream, key) == 1000 - 40

        seen_upstream = upstream.cli("audit", "--account", "downstream")
        assert ADA_PHONE in seen_upstream and CARL_PHONE in seen_upstream
        assert BOB_PHONE not in seen_upstream
    down_db = Database(downstream.url)
    assert rows_holding(down_db, ADA_PHONE) == []
    assert "phone_observations.e164" in rows_holding(down_db, CARL_PHONE)
    down_db.dispose()
