"""Configuring vendor sources against their fakes, and reading back what was recorded."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tests.client.support import Deployment
from tests.sources.vendors.fakes import FakeVendor
from tests.support.servers import TrovaServer, free_port
from trova.client import Bulk, Client
from trova.store import Database
from trova.store.tables import source_calls

ENV = {"VENDOR_KEY": "test-key"}


def vendor_config(kind: str, fake: FakeVendor, name: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "name": name or kind,
        "kind": kind,
        "api_key_env": "VENDOR_KEY",
        "base_url": fake.url,
        "price": 2.5,
        "timeout_s": 2,
        "retries": 1,
        "backoff_base_s": 0.01,
        "backoff_cap_s": 0.02,
        **extra,
    }


def call_rows(db: Database, source: str | None = None) -> list[sa.Row[Any]]:
    query = sa.select(source_calls).order_by(source_calls.c.id)
    if source is not None:
        query = query.where(source_calls.c.source == source)
    with db.read() as conn:
        return list(conn.execute(query))


def linkedin(slug: str) -> dict[str, str]:
    return {"linkedin_url": f"https://www.linkedin.com/in/{slug}"}


def write_config(path: Path, *sources: Mapping[str, Any]) -> Path:
    """A ``trova.toml`` with these ``[[sources]]`` (flat values only)."""
    lines = []
    for source in sources:
        lines.append("[[sources]]")
        lines.extend(f"{key} = {json.dumps(value)}" for key, value in source.items())
        lines.append("")
    path.write_text("\n".join(lines))
    return path


def batch_through_serve(
    tmp_path: Path, source: Mapping[str, Any], searches: list[dict[str, str]]
) -> tuple[Bulk, str]:
    """The whole path as deployed: ``trova serve`` configured by a ``trova.toml`` naming the local
    store and ``source``, ``TROVA_PUBLIC_URL`` the server itself; ``searches`` submitted as one batch
    through the API and waited for. (The finished batch, the public URL.)"""
    port = free_port()
    public_url = f"http://127.0.0.1:{port}"
    config = write_config(tmp_path / "trova.toml", {"name": "local", "kind": "local"}, source)
    env = {
        "TROVA_DATABASE_URL": f"sqlite:///{tmp_path / 'trova.db'}",
        "TROVA_WORKER_POLL_INTERVAL_S": "0.05",
        "TROVA_CONFIG": str(config),
        "TROVA_PUBLIC_URL": public_url,
        **ENV,
    }
    with TrovaServer(env, cwd=tmp_path, port=port, log_path=tmp_path / "serve.log") as server:
        key = Deployment(tmp_path, server, env).create_account("buyer", credits=1000)
        with Client(key, server.base_url) as client:
            submitted = client.submit_bulk(searches)
            return client.wait_bulk(submitted.id, timeout_s=120, poll_interval_s=0.2), public_url
