"""One search from the form, its answer and why; the "why" of a found row of a run."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.client.support import contact
from tests.web.conftest import Site, shoot, sign_in
from tests.web.test_security import small_csv


def test_single_search_by_names_and_its_why(page: Any, site: Site) -> None:
    sign_in(page, site.account("single"))
    page.get_by_role("link", name="Find one phone").first.click()
    page.get_by_role("button", name="Find phone").click()
    expect(page.get_by_role("alert")).to_have_text("Missing mandatory property")
    c = contact(7)
    page.get_by_label("First name").fill(c.first_name)
    page.get_by_label("Last name").fill(c.last_name)
    page.get_by_label("Company domain").fill(c.company_domain)
    page.get_by_role("button", name="Find phone").click()
    expect(page).to_have_url(re.compile(r"/find/[0-9a-f-]{36}$"))
    expect(page.locator("#status")).to_have_text("ongoing")
    site.work()
    expect(page.locator("#status")).to_have_text("found", timeout=60_000)
    expect(page.locator("#answer")).to_contain_text(c.phone)
    expect(page.get_by_text("name_company")).to_be_visible()
    shoot(page, site, "single-found")


def test_why_of_a_found_row(page: Any, site: Site, tmp_path: Path) -> None:
    sign_in(page, site.account("why"))
    page.goto("/searches/new")
    page.get_by_label("Leads file").set_input_files(str(small_csv(tmp_path / "w.csv", 3)))
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="Find phones").click()
    expect(page).to_have_url(re.compile(r"/searches/[0-9a-f-]{36}$"))
    site.work()
    expect(page.locator("#status")).to_have_text("completed", timeout=60_000)
    page.get_by_role("link", name="Why line 3").click()
    expect(page.locator("#answer")).to_contain_text(contact(1).phone)
    expect(page.get_by_text("linkedin_key")).to_be_visible()
    expect(page.get_by_text("the LinkedIn profile is on record")).to_be_visible()
    shoot(page, site, "why")
