"""A crash of ``trova serve`` between a web run's commit and its link on disk loses no search.

The server runs as a subprocess with ``TROVA_WEB_CRASH_AFTER_SUBMIT``: it exits (as a crash would)
right after the batches of **Find phones** commit, before the upload is linked to them. Restarted
without the hook, the home page lists the run, its preview leads to it, and submitting the same
preview again links the committed batch instead of charging a second one.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.support.servers import TrovaServer, run_trova
from trova.accounts import service as accounts
from trova.batches import lookups
from trova.store import Database

ROWS = 40
PRICE = 1


def sign_in(client: httpx.Client, key: str) -> str:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/sign-in").text)
    assert token is not None
    answer = client.post("/sign-in", data={"api_key": key, "csrf_token": token.group(1)})
    assert answer.status_code == 303, answer.text
    return token.group(1)


def upload(client: httpx.Client, token: str, path: Path) -> str:
    with path.open("rb") as handle:
        answer = client.post("/searches/new", data={"csrf_token": token},
                             files={"leads": (path.name, handle, "text/csv")})
    assert answer.status_code == 303, answer.text[:300]
    return str(answer.headers["location"])


def credits_left(url: str, account_id: int) -> int:
    db = Database(url)
    try:
        with db.read() as conn:
            account = accounts.get_account(conn, account_id)
        assert account is not None
        return account.sub_credits + account.paygo_credits
    finally:
        db.dispose()


def web_batches(url: str, account_id: int, upload_id: str) -> list[str]:
    db = Database(url)
    try:
        with db.read() as conn:
            return [batch_id for batch_id, _part in lookups.batches_of_upload(conn, account_id, upload_id)]
    finally:
        db.dispose()


def test_a_crash_after_the_batches_commit_loses_no_search_and_charges_nothing_twice(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'trova.db'}"
    env = {"TROVA_DATABASE_URL": url, "TROVA_LOG_LEVEL": "warning", "TROVA_API_KEY": "",
           "TROVA_PRICE_PER_PHONE": str(PRICE), "TROVA_WEB_CRASH_AFTER_SUBMIT": "true"}
    run_trova("migrate", env=env, cwd=tmp_path)
    db = Database(url)
    with db.write() as conn:
        created = accounts.create_account(conn, "crash", credits=10_000)
    db.dispose()
    account_id = created.account.id
    leads = tmp_path / "crash-leads.csv"
    leads.write_text("linkedin_url,notes\n" + "".join(
        f"https://www.linkedin.com/in/crash-{i:04d},row {i}\n" for i in range(ROWS)
    ))
    before = credits_left(url, account_id)
    server = TrovaServer(env, args=("serve", "--no-worker"), cwd=tmp_path, log_path=tmp_path / "server.log")
    server.start()
    try:
        with httpx.Client(base_url=server.base_url, timeout=60) as client:
            token = sign_in(client, created.api_key)
            preview_url = upload(client, token, leads)
            run_form = {"csrf_token": token, "action": "run", "map_0": "linkedin_url"}
            with pytest.raises(httpx.TransportError):
                client.post(preview_url, data=run_form)
        assert server.proc is not None
        assert server.proc.wait(timeout=30) == 70
        upload_id = preview_url.rsplit("/", 1)[1]
        committed = web_batches(url, account_id, upload_id)
        assert len(committed) == 1
        assert credits_left(url, account_id) == before - ROWS * PRICE

        server.env["TROVA_WEB_CRASH_AFTER_SUBMIT"] = "false"
        server.start()
        with httpx.Client(base_url=server.base_url, timeout=60) as client:
            token = sign_in(client, created.api_key)
            home = client.get("/")
            assert f"/searches/{committed[0]}" in home.text
            assert "crash-leads.csv" in home.text
            again = client.get(preview_url)
            assert again.status_code == 303
            assert again.headers["location"] == f"/searches/{committed[0]}"
            resubmitted = client.post(preview_url, data={**run_form, "csrf_token": token})
            assert resubmitted.status_code == 303
            assert resubmitted.headers["location"] == f"/searches/{committed[0]}"
            progress = client.get(f"/searches/{committed[0]}/progress").json()
            assert (progress["status"], progress["requested"]) == ("ongoing", ROWS)
        assert web_batches(url, account_id, upload_id) == committed
        assert credits_left(url, account_id) == before - ROWS * PRICE
    finally:
        server.stop()


def test_submitting_an_upload_whose_batches_committed_links_them_instead_of_charging_again(
    tmp_path: Path,
) -> None:
    """The note on disk can be lost too (a disk restored from a backup): the submitting transaction
    itself finds the upload's batches and links them."""
    url = f"sqlite:///{tmp_path / 'trova.db'}"
    env = {"TROVA_DATABASE_URL": url, "TROVA_LOG_LEVEL": "warning", "TROVA_API_KEY": "",
           "TROVA_PRICE_PER_PHONE": str(PRICE), "TROVA_WEB_CRASH_AFTER_SUBMIT": "true"}
    run_trova("migrate", env=env, cwd=tmp_path)
    db = Database(url)
    with db.write() as conn:
        created = accounts.create_account(conn, "lost-note", credits=10_000)
    db.dispose()
    leads = tmp_path / "leads.csv"
    urls = "".join(f"https://www.linkedin.com/in/note-{i}\n" for i in range(ROWS))
    leads.write_text("linkedin_url\n" + urls)
    server = TrovaServer(env, args=("serve", "--no-worker"), cwd=tmp_path, log_path=tmp_path / "server.log")
    server.start()
    try:
        with httpx.Client(base_url=server.base_url, timeout=60) as client:
            token = sign_in(client, created.api_key)
            preview_url = upload(client, token, leads)
            run_form = {"csrf_token": token, "action": "run", "map_0": "linkedin_url"}
            with pytest.raises(httpx.TransportError):
                client.post(preview_url, data=run_form)
        assert server.proc is not None
        server.proc.wait(timeout=30)
        notes = list((tmp_path / "trova-web" / "accounts").glob("*/submitting/*"))
        assert len(notes) == 1
        notes[0].unlink()
        charged = credits_left(url, created.account.id)

        server.env["TROVA_WEB_CRASH_AFTER_SUBMIT"] = "false"
        server.start()
        with httpx.Client(base_url=server.base_url, timeout=60) as client:
            token = sign_in(client, created.api_key)
            assert client.get(preview_url).status_code == 200
            resubmitted = client.post(preview_url, data={**run_form, "csrf_token": token})
            assert resubmitted.status_code == 303
        upload_id = preview_url.rsplit("/", 1)[1]
        committed = web_batches(url, created.account.id, upload_id)
        assert len(committed) == 1
        assert resubmitted.headers["location"] == f"/searches/{committed[0]}"
        assert credits_left(url, created.account.id) == charged
    finally:
        server.stop()
