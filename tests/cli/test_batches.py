"""``GET /phone/bulks`` (extension) and ``trova batches``, against a real ``trova serve``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.client.support import Deployment, contact, deployment
from tests.support.servers import run_trova


@pytest.fixture(scope="module")
def trova(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with deployment(tmp_path_factory.mktemp("batches")) as dep:
        dep.import_contacts(range(1, 4))
        yield dep


def test_batches_are_listed_newest_first_with_counts_and_cost(trova: Deployment, tmp_path: Path) -> None:
    key = trova.create_account("lister", 10_000)
    source = tmp_path / "leads.csv"
    urls = [contact(1).linkedin_url, contact(2).linkedin_url, "https://www.linkedin.com/in/nobody-at-all"]
    source.write_text("linkedin_url\n" + "\n".join(urls) + "\n")
    args = ["--api-key", key, "--base-url", trova.base_url]
    run_trova("bulk", str(source), "-o", str(tmp_path / "out.csv"), "--batch-size", "2",
              "--poll-interval", "0.1", *args, env=trova.env)
    listed = json.loads(run_trova("batches", "--json", *args, env=trova.env).stdout)
    bulks = listed["bulks"]
    assert [(b["requested"], b["found"], b["credits_cost"], b["status"]) for b in bulks] == [
        (1, 0, 0, "completed"), (2, 2, 80, "completed")
    ]
    assert listed["next_before"] is None
    first = json.loads(run_trova("batches", "--json", "--limit", "1", *args, env=trova.env).stdout)
    assert [b["id"] for b in first["bulks"]] == [bulks[0]["id"]] and first["next_before"] == bulks[0]["id"]
    older = json.loads(
        run_trova("batches", "--json", "--before", first["next_before"], *args, env=trova.env).stdout
    )
    assert [b["id"] for b in older["bulks"]] == [bulks[1]["id"]]
    table = run_trova("batches", *args, env=trova.env).stdout
    assert bulks[0]["id"] in table and "2/2" in table
    other = trova.create_account("someone-else", 100)
    assert httpx.get(f"{trova.base_url}/phone/bulks", headers={"x-api-key": other}).json() == {
        "bulks": [], "next_before": None
    }


@pytest.mark.parametrize("limit", ["0", "101", "ten"])
def test_a_bad_limit_is_a_400_with_its_text(trova: Deployment, limit: str) -> None:
    key = trova.create_account(f"limits-{limit}", 0)
    answer = httpx.get(f"{trova.base_url}/phone/bulks", params={"limit": limit}, headers={"x-api-key": key})
    assert answer.status_code == 400
    assert answer.json() == {"message": "limit must be an integer from 1 to 100"}
