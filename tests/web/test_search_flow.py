"""End to end in a real browser: upload 5,000 rows, preview, find, watch it finish, download both
files, and compare every row with what the API answers for the same batches."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from openpyxl import load_workbook
from playwright.sync_api import expect

from tests.client.support import contact
from tests.web.conftest import Site, shoot, sign_in
from trova.store import tables

XSS = "<script>document.title='pwned'</script>"
FORMULA = '=HYPERLINK("http://evil.example","click")'
ADDED = ["phone", "phone_country", "phone_line_type", "phone_sources", "phone_last_seen", "phone_status"]


def lead_row(i: int) -> list[str]:
    """Rows 0-1999 by LinkedIn (1,500 imported), 2000-2499 repeat 0-499, 2500-4899 by name and
    company (contacts 0-2399), 4900-4999 invalid (a first name only)."""
    notes = XSS if i == 0 else FORMULA if i == 1 else f"note {i}"
    if i < 2000:
        return [contact(i).linkedin_url, "", "", "", notes]
    if i < 2500:
        return [contact(i - 2000).linkedin_url, "", "", "", notes]
    if i < 4900:
        c = contact(i - 2500)
        return ["", c.first_name, c.last_name, c.company_name, notes]
    return ["", f"Only{i}", "", "", notes]


def write_leads(path: Path) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["LinkedIn", "First Name", "Last Name", "Company", "Notes"])
        for i in range(5000):
            writer.writerow(lead_row(i))
    return path


def api_answers(site: Site, account: str) -> dict[bytes, dict[str, Any]]:
    """The API's result for every search of the account's batches, by its params."""
    engine = sa.create_engine(site.url)
    try:
        with engine.connect() as conn:
            ids = conn.execute(
                sa.select(tables.batches.c.id)
                .join(tables.accounts, tables.accounts.c.id == tables.batches.c.account_id)
                .where(tables.accounts.c.name == account)
            ).scalars().all()
    finally:
        engine.dispose()
    answers: dict[bytes, dict[str, Any]] = {}
    with site.api(site.keys[account]) as client:
        for batch_id in ids:
            body = client.get("/phone/bulk", params={"id": batch_id}).json()
            assert body["general"]["status"] == "completed"
            for result in body["results"]:
                answers[orjson.dumps(result["params"], option=orjson.OPT_SORT_KEYS)] = result
    assert len(ids) == 2
    return answers


def expected_added(row: list[str], answers: dict[bytes, dict[str, Any]]) -> list[str]:
    names = ("linkedin_url", "first_name", "last_name", "company_name")
    params = {name: value for name, value in zip(names, row, strict=False) if value}
    if "linkedin_url" not in params and "last_name" not in params:
        return ["", "", "", "", "", "invalid_input: " + "x"]
    result = answers[orjson.dumps(params, option=orjson.OPT_SORT_KEYS)]
    if result["qualification"] != "found":
        return ["", "", "", "", "", "not_found"]
    sources = ";".join(result.get("sources", []))
    return [result["number"], result["country"], result.get("line_type", ""), sources,
            result.get("last_seen", ""), "found"]


def check_rows(rows: list[list[str]], answers: dict[bytes, dict[str, Any]]) -> None:
    assert rows[0] == ["LinkedIn", "First Name", "Last Name", "Company", "Notes", *ADDED]
    assert len(rows) == 5001
    found = 0
    for i, row in enumerate(rows[1:]):
        source = lead_row(i)
        expected_notes = "'" + FORMULA if i == 1 else source[4]
        assert row[:5] == [*source[:4], expected_notes], i
        wanted = expected_added(source, answers)
        if wanted[5].startswith("invalid_input"):
            assert row[10].startswith("invalid_input: "), (i, row)
            assert row[5:10] == ["", "", "", "", ""]
        else:
            assert row[5:] == wanted, (i, row, wanted)
        found += row[10] == "found"
    assert found == 1500 + 500 + 1500  # by LinkedIn, the repeats, by name


def test_upload_preview_find_and_download(page: Any, site: Site, tmp_path: Path) -> None:
    key = site.account("alice", credits=200_000)
    sign_in(page, key)
    page.get_by_role("link", name="New search").first.click()
    shoot(page, site, "new-search")
    page.get_by_label("Leads file").set_input_files(str(write_leads(tmp_path / "leads.csv")))
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(re.compile(r"/searches/uploads/"))
    expect(page.locator("#count-rows")).to_have_text("5,000")
    expect(page.locator("#count-searches")).to_have_text("4,400")
    expect(page.locator("#count-duplicates")).to_have_text("500")
    expect(page.locator("#count-invalid")).to_have_text("100")
    expect(page.locator("#max-cost")).to_have_text("176,000 credits")
    expect(page.get_by_role("cell", name=XSS)).to_be_visible()  # the cell, as text
    assert page.title() != "pwned"
    expect(page.get_by_label("Field of column LinkedIn")).to_have_value("linkedin_url")
    expect(page.get_by_label("Field of column Notes")).to_have_value("")
    invalid = page.locator("table.invalid tbody tr").first
    expect(invalid).to_contain_text("4902")
    shoot(page, site, "preview")

    page.get_by_role("button", name="Find phones").click()
    expect(page).to_have_url(re.compile(r"/searches/[0-9a-f-]{36}$"))
    expect(page.locator("#status")).to_have_text("ongoing")
    expect(page.locator("#requested")).to_have_text("4,400")
    shoot(page, site, "search-ongoing")
    page.evaluate("window.__loaded_once = true")
    assert site.work() > 0
    expect(page.locator("#status")).to_have_text("completed", timeout=60_000)
    assert page.evaluate("window.__loaded_once") is None  # the page reloaded by itself
    expect(page.locator("#progress")).to_have_attribute("value", "4400")
    expect(page.locator("#found")).to_have_text("3,000")  # searches; rows found: 3,500
    shoot(page, site, "search-completed")

    answers = api_answers(site, "alice")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    text = Path(download_info.value.path()).read_text(encoding="utf-8-sig")
    check_rows(list(csv.reader(io.StringIO(text))), answers)

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download XLSX").click()
    assert download_info.value.suggested_filename == "leads-phones.xlsx"
    book = load_workbook(io.BytesIO(Path(download_info.value.path()).read_bytes()), read_only=True)
    sheet_rows = [
        ["" if v is None else str(v) for v in row] for row in book.worksheets[0].iter_rows(values_only=True)
    ]
    book.close()
    check_rows(sheet_rows, answers)

    page.get_by_role("link", name="Invalid", exact=True).click()
    expect(page.locator("table.results tbody tr")).to_have_count(50)
    expect(page.locator("table.results tbody tr").first).to_contain_text("invalid_input")
    page.goto("/")
    expect(page.get_by_role("link", name="leads.csv")).to_be_visible()
    shoot(page, site, "home")
