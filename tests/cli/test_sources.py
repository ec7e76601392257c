"""``trova sources list|stats --json``: one JSON array, ``[]`` when there is nothing to show."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.servers import run_trova


def test_json_is_an_array_even_with_no_upstream_source(tmp_path: Path) -> None:
    env = {"TROVA_DATABASE_URL": f"sqlite:///{tmp_path / 'trova.db'}", "TROVA_CONFIG": ""}
    run_trova("migrate", env=env, cwd=tmp_path)
    assert json.loads(run_trova("sources", "stats", "--json", env=env, cwd=tmp_path).stdout) == []
    by_country = run_trova("sources", "stats", "--by", "country", "--json", env=env, cwd=tmp_path).stdout
    assert json.loads(by_country) == []
    listed = json.loads(run_trova("sources", "list", "--json", env=env, cwd=tmp_path).stdout)
    assert [(source["name"], source["kind"]) for source in listed] == [("local", "local")]
