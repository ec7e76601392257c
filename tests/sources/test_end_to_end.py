"""The waterfall inside a real ``trova serve`` configured by ``trova.toml``: batches through the API,
upstreams on loopback, ``trova sources list|stats``, ``/metrics``, and the server's log."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.client.support import Deployment, contact, deployment
from tests.sources.provider import FakeEnrow, running
from tests.support.servers import TrovaServer, run_trova
from trova.client import Client

SECRET = "tok-9f8e7d6c5b4a-SECRET"
LOCAL_ONLY = range(5001, 5003)


def toml_value(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{key} = {toml_value(item)}" for key, item in value.items()) + " }"
    return json.dumps(value)


def write_config(path: Path, *sources: Mapping[str, Any]) -> Path:
    lines = []
    for source in sources:
        lines.append("[[sources]]")
        lines.extend(f"{key} = {toml_value(value)}" for key, value in source.items())
        lines.append("")
    path.write_text("\n".join(lines))
    return path


@pytest.fixture
def downstream_root(tmp_path: Path) -> Path:
    return tmp_path / "downstream"


@pytest.fixture
def served(downstream_root: Path, upstream: Deployment) -> Iterator[tuple[Deployment, str]]:
    """A downstream Trova whose waterfall is: its own store, then the upstream Trova."""
    upstream_key = upstream.create_account(f"e2e-{downstream_root.parent.name}", credits=100_000)
    downstream_root.mkdir(parents=True)
    config = write_config(
        downstream_root / "trova.toml",
        {"name": "local", "kind": "local"},
        {
            "name": "upstream",
            "kind": "enrow",
            "base_url": upstream.base_url,
            "api_key_env": "UPSTREAM_KEY",
            "poll_interval_s": 0.1,
        },
    )
    env = {"TROVA_CONFIG": str(config), "UPSTREAM_KEY": upstream_key, "TROVA_JOB_CHUNK_SIZE": "3000"}
    with deployment(downstream_root, env) as down:
        down.import_contacts(LOCAL_ONLY)
        yield down, upstream_key


def li(i: int) -> dict[str, str]:
    return {"linkedin_url": contact(i).linkedin_url}


def test_batch_through_the_waterfall_then_locally(
    served: tuple[Deployment, str], upstream: Deployment
) -> None:
    down, upstream_key = served
    key = down.create_account("user", credits=10_000)
    searches = [li(5001), li(11), li(12), {"linkedin_url": "linkedin.com/in/nobody-anywhere"}]
    with Client(upstream_key, upstream.base_url) as up:
        upstream_before = up.account().credits
    with Client(key, down.base_url) as client:
        bulk = client.wait_bulk(client.submit_bulk(searches).id, timeout_s=120, poll_interval_s=0.2)
        assert [r.number for r in bulk.results] == [
            contact(5001).phone,
            contact(11).phone,
            contact(12).phone,
            None,
        ]
        assert [r.raw.get("sources") for r in bulk.results] == [["crm"], ["upstream"], ["upstream"], None]
        assert bulk.stats.credits_cost == 3 * 40
        again = client.wait_bulk(client.submit_bulk(searches[1:3]).id, timeout_s=120, poll_interval_s=0.2)
        assert [r.number for r in again.results] == [contact(11).phone, contact(12).phone]
    with Client(upstream_key, upstream.base_url) as up:
        assert upstream_before - up.account().credits == 2 * 40
    assert down.batches_of("user") == 2
    stats = json.loads(run_trova("sources", "stats", "--json", env=down.env).stdout)
    assert stats == [
        {
            "source": "upstream",
            "requests": 1,
            "searches": 3,
            "hits": 2,
            "misses": 1,
            "rejected": 0,
            "errors": 0,
            "fell_through": 0,
            "skipped": 0,
            "cached_misses": 0,
            "credits_spent": 80,
        }
    ]
    metrics = httpx.get(f"{down.base_url}/metrics", timeout=10).text
    assert 'trova_source_hits_total{source="upstream"} 2.0' in metrics
    assert 'trova_source_credits_spent_total{source="upstream"} 80.0' in metrics
    listed = json.loads(run_trova("sources", "list", "--json", env=down.env).stdout)
    assert [(s["name"], s["kind"], s["health"], s["remembered_misses"]) for s in listed] == [
        ("local", "local", "ok", 0),
        ("upstream", "enrow", "ok", 1),
    ]


def test_failing_upstreams_never_fail_a_batch_and_secrets_stay_out_of_logs(tmp_path: Path) -> None:
    with running(FakeEnrow()) as fake:
        fake.numbers = {"toll": ("+1 800 555 0123", "US"), "bad": ("+1 555", "US")}
        config = write_config(
            tmp_path / "trova.toml",
            {
                "name": "fake",
                "kind": "enrow",
                "base_url": fake.url,
                "api_key_env": "FAKE_KEY",
                "poll_interval_s": 0.1,
            },
            {
                "name": "down",
                "kind": "http",
                "url": "http://127.0.0.1:9/lookup?last={last_name}&token=${TOKEN}",
                "headers": {"Authorization": "Bearer ${TOKEN}"},
                "numbers_path": "phones[*]",
                "retries": 1,
                "backoff_base_s": 0.01,
            },
        )
        log = tmp_path / "server.log"
        env = {
            "TROVA_DATABASE_URL": f"sqlite:///{tmp_path / 'trova.db'}",
            "TROVA_CONFIG": str(config),
            "TROVA_LOG_LEVEL": "debug",
            "TROVA_WORKER_POLL_INTERVAL_S": "0.05",
            "FAKE_KEY": SECRET,
            "TOKEN": SECRET,
        }
        with TrovaServer(env, cwd=tmp_path, log_path=log) as server:
            key = run_trova("accounts", "create", "user", "--credits", "1000", env=env).stdout.splitlines()[
                -1
            ]
            searches = [
                {"first_name": name, "last_name": "Doe", "company_domain": "acme.com"}
                for name in ("Toll", "Bad", "Nobody")
            ]
            with Client(key, server.base_url) as client:
                bulk = client.wait_bulk(client.submit_bulk(searches).id, timeout_s=120, poll_interval_s=0.2)
                assert bulk.status == "completed"
                assert [r.qualification for r in bulk.results] == ["not_found"] * 3
                assert (bulk.stats.credits_cost, bulk.stats.credits_to_refund) == (0, 120)
                assert client.account().credits == 1000
            listed = json.loads(run_trova("sources", "stats", "--json", env=env).stdout)
            stats = {row["source"]: row for row in listed}
            assert (stats["fake"]["rejected"], stats["fake"]["hits"]) == (2, 0)
            assert (stats["down"]["requests"], stats["down"]["errors"], stats["down"]["fell_through"]) == (
                6,
                6,
                3,
            )
            listed = run_trova("sources", "list", env=env).stdout
        assert "127.0.0.1:9/lookup" in listed
        text = log.read_text()
        assert "source down" in text
        for output in (text, listed):
            assert SECRET not in output
