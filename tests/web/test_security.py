"""What the web app refuses: forged forms, other accounts' pages, bad uploads; and its headers."""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path
from typing import Any

import httpx
from openpyxl import Workbook
from playwright.sync_api import expect

from tests.client.support import contact
from tests.web.conftest import Site, shoot, sign_in

NOT_A_SPREADSHEET = "This file is not a spreadsheet: upload a CSV, TSV, XLSX or JSON Lines file."


def small_csv(path: Path, rows: int = 5) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["linkedin_url", "email"])
        for i in range(rows):
            writer.writerow([contact(i).linkedin_url, f"p{i}@example.com"])
    return path


def upload(page: Any, path: Path) -> None:
    page.goto("/searches/new")
    page.get_by_label("Leads file").set_input_files(str(path))
    page.get_by_role("button", name="Continue").click()


def credits_of(site: Site, key: str) -> int:
    with site.api(key) as client:
        body = client.get("/account/info").json()
    return int(body["credits"]) if "credits" in body else sum(
        v for k, v in body.items() if isinstance(v, int) and "credit" in k.lower()
    )


def test_another_accounts_search_is_not_found(page: Any, site: Site, tmp_path: Path) -> None:
    sign_in(page, site.account("carol"))
    upload(page, small_csv(tmp_path / "carol.csv"))
    expect(page).to_have_url(re.compile(r"/searches/uploads/"))
    preview_url = page.url
    page.get_by_role("button", name="Find phones").click()
    expect(page).to_have_url(re.compile(r"/searches/[0-9a-f-]{36}$"))
    search_url = page.url
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, site.account("mallory"))
    for url in (search_url, search_url + "/results.csv", search_url + "/progress", preview_url):
        answer = page.goto(url)
        assert answer is not None and answer.status == 404, url
    page.goto(search_url)
    expect(page.get_by_role("alert")).to_contain_text("belongs to another account")
    shoot(page, site, "not-found")


def test_forms_without_the_csrf_token_or_from_another_origin_are_refused(site: Site) -> None:
    key = site.account("forger")
    with httpx.Client(base_url=site.base_url, follow_redirects=False) as client:
        assert client.post("/sign-in", data={"api_key": key}).status_code == 403
        page = client.get("/sign-in")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        refused = client.post(
            "/sign-in", data={"api_key": key, "csrf_token": token.group(1)},
            headers={"origin": "https://evil.example"},
        )
        assert refused.status_code == 403 and "trova_session" not in refused.cookies
        wrong = client.post("/sign-in", data={"api_key": key, "csrf_token": token.group(1) + "x"})
        assert wrong.status_code == 403
        accepted = client.post(
            "/sign-in", data={"api_key": key, "csrf_token": token.group(1)}, headers={"origin": site.base_url}
        )
        assert accepted.status_code == 303 and "trova_session" in accepted.cookies
        assert client.post("/sign-out", data={}).status_code == 403


def test_csrf_refusal_in_the_browser(page: Any, site: Site) -> None:
    sign_in(page, site.account("tampered"))
    page.evaluate("document.querySelectorAll('input[name=csrf_token]').forEach(i => i.value = 'forged')")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("alert")).to_contain_text("did not come from this site")


def test_bad_uploads_each_get_one_message_and_cost_nothing(page: Any, site: Site, tmp_path: Path) -> None:
    key = site.account("uploader", credits=5_000)
    sign_in(page, key)
    big = tmp_path / "big.csv"
    with big.open("wb") as handle:
        handle.write(b"linkedin_url\n")
        line = b"https://www.linkedin.com/in/someone-with-a-long-name-0123456789\n"
        handle.write(line * (50_000_000 // len(line)))
    upload(page, big)
    expect(page.get_by_role("alert")).to_have_text("This file is larger than the upload limit.")
    shoot(page, site, "upload-too-large")

    binary = tmp_path / "photo.csv"
    binary.write_bytes(bytes(range(256)) * 64)
    upload(page, binary)
    expect(page.get_by_role("alert")).to_have_text(NOT_A_SPREADSHEET)

    fake = tmp_path / "sheet.xlsx"
    fake.write_bytes(os.urandom(2048))
    upload(page, fake)
    expect(page.get_by_role("alert")).to_have_text(NOT_A_SPREADSHEET)

    nothing = tmp_path / "nothing.csv"
    nothing.write_text("colour,size\nred,3\nblue,4\n")
    upload(page, nothing)
    expect(page).to_have_url(re.compile(r"/searches/uploads/"))
    expect(page.get_by_role("alert").first).to_contain_text("No column of this file names a person")
    page.get_by_role("button", name="Find phones").click(force=True)  # aria-disabled; the server decides
    expect(page.get_by_role("alert").first).to_contain_text("No column of this file names a person")
    assert credits_of(site, key) == 5_000


def test_xlsx_jsonl_and_tsv_leads(page: Any, site: Site, tmp_path: Path) -> None:
    sign_in(page, site.account("formats"))
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["First Name", "Surname", "Employer"])
    for i in range(3):
        c = contact(i)
        sheet.append([c.first_name, c.last_name, c.company_name])
    sheet.append(["Solo", None, None])
    book.save(tmp_path / "leads.xlsx")
    jsonl = tmp_path / "leads.jsonl"
    jsonl.write_text("".join(json.dumps({"linkedin": contact(i).linkedin_url}) + "\n" for i in range(4)))
    tsv = tmp_path / "leads.tsv"
    tsv.write_text("first_name\tlast_name\tcompany_domain\n" + "".join(
        f"{contact(i).first_name}\t{contact(i).last_name}\t{contact(i).company_domain}\n" for i in range(2)
    ))
    cases = ((tmp_path / "leads.xlsx", 4, 3, 1), (jsonl, 4, 4, 0), (tsv, 2, 2, 0))
    for path, rows, searches, invalid in cases:
        upload(page, path)
        expect(page).to_have_url(re.compile(r"/searches/uploads/"))
        expect(page.locator("#count-rows")).to_have_text(str(rows))
        expect(page.locator("#count-searches")).to_have_text(str(searches))
        expect(page.locator("#count-invalid")).to_have_text(str(invalid))


def test_editing_the_mapping_changes_the_plan(page: Any, site: Site, tmp_path: Path) -> None:
    sign_in(page, site.account("mapper"))
    path = tmp_path / "odd.csv"
    path.write_text("profile,who\n" + "".join(f"{contact(i).linkedin_url},x{i}\n" for i in range(3)))
    upload(page, path)
    expect(page.locator("#count-searches")).to_have_text("0")
    page.get_by_label("Field of column profile").select_option("linkedin_url")
    page.get_by_role("button", name="Update preview").click()
    expect(page.locator("#count-searches")).to_have_text("3")
    expect(page.get_by_label("Field of column profile")).to_have_value("linkedin_url")


def test_security_headers(site: Site) -> None:
    answer = httpx.get(f"{site.base_url}/sign-in")
    csp = answer.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["referrer-policy"] == "same-origin"
    api = httpx.get(f"{site.base_url}/healthz")
    assert "content-security-policy" not in api.headers
