"""``trova find`` as a subprocess against a real ``trova serve``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client.support import Deployment, contact, deployment
from tests.support.servers import free_port, run_trova


@pytest.fixture(scope="module")
def trova(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with deployment(tmp_path_factory.mktemp("find")) as dep:
        dep.import_contacts(range(1, 4))
        yield dep


@pytest.fixture(scope="module")
def env(trova: Deployment) -> dict[str, str]:
    key = trova.create_account("find-tests", 10_000)
    return {**trova.env, "TROVA_API_KEY": key, "TROVA_BASE_URL": trova.base_url}


def test_find_by_linkedin_prints_a_table(env: dict[str, str]) -> None:
    result = run_trova("find", "--linkedin", "linkedin.com/in/LEAD-00001/", env=env)
    table = result.stdout
    assert "found" in table and contact(1).phone in table and "FR" in table and "mobile" in table


def test_find_by_names_and_company_prints_json(env: dict[str, str]) -> None:
    person = contact(2)
    result = run_trova(
        "find",
        "--first",
        person.first_name,
        "--last",
        person.last_name,
        "--company",
        person.company_name,
        "--json",
        env=env,
    )
    body = json.loads(result.stdout)
    assert (body["qualification"], body["number"], body["country"]) == ("found", person.phone, "FR")
    assert body["params"] == {
        "first_name": person.first_name,
        "last_name": person.last_name,
        "company_name": person.company_name,
    }


def test_find_someone_unknown_is_not_found(env: dict[str, str]) -> None:
    body = json.loads(
        run_trova(
            "find", "--first", "Ann", "--last", "Nobody", "--domain", "nowhere.io", "--json", env=env
        ).stdout
    )
    assert body["qualification"] == "not_found" and "number" not in body


def test_find_without_a_complete_identity_is_a_usage_error(env: dict[str, str]) -> None:
    result = run_trova("find", "--first", "Ann", "--last", "Nobody", env=env, check=False)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: give --linkedin URL, or --first and --last (or --full) with --domain or --company"
    )


def test_find_by_full_name_like_explain(env: dict[str, str]) -> None:
    person = contact(3)
    full = f"{person.first_name} {person.last_name}"
    body = json.loads(
        run_trova("find", "--full", full, "--domain", person.company_domain, "--json", env=env).stdout
    )
    assert (body["qualification"], body["number"]) == ("found", person.phone)
    assert body["params"]["full_name"] == full


def test_find_with_a_bad_key_is_one_line(env: dict[str, str]) -> None:
    result = run_trova("find", "--linkedin", "linkedin.com/in/x", "--api-key", "bad", env=env, check=False)
    assert result.returncode == 1
    assert (
        result.stderr.strip() == "error: This apikey is not valid (HTTP 401)"
    )


def test_a_server_that_is_down_is_one_line_at_once(tmp_path: Path) -> None:
    """No retries against a closed port: one line naming the address, exit 1."""
    port = free_port()
    for args in (
        ("find", "--linkedin", "https://www.linkedin.com/in/ada"),
        ("bulk", str(write_leads(tmp_path)), "-o", str(tmp_path / "out.csv")),
    ):
        url = f"http://127.0.0.1:{port}"
        result = run_trova(*args, "--api-key", "k", "--base-url", url, env={}, check=False)
        assert result.returncode == 1, result.stderr
        lines = result.stderr.strip().splitlines()
        assert lines[-1].startswith(f"error: cannot reach {url}: ") and "refused" in lines[-1]
        assert "retrying" not in result.stderr


def write_leads(tmp_path: Path) -> Path:
    path = tmp_path / "leads.csv"
    path.write_text("linkedin_url\nhttps://www.linkedin.com/in/ada\n")
    return path
