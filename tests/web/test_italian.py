"""Italian pages in a real browser: picked from Accept-Language, switched and remembered."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.web.conftest import Site, shoot


def test_italian_from_the_browser_and_the_switch(browser: Any, site: Site) -> None:
    key = site.account("giulia", credits=12_345)
    context = browser.new_context(base_url=site.base_url, locale="it-IT")
    try:
        page = context.new_page()
        page.goto("/sign-in")
        expect(page.locator("html")).to_have_attribute("lang", "it")
        page.get_by_label("Chiave API").fill("trova_sbagliata")
        page.get_by_role("button", name="Accedi").click()
        expect(page.get_by_role("alert")).to_have_text("Questa chiave API non è valida")
        page.get_by_label("Chiave API").fill(key)
        page.get_by_role("button", name="Accedi").click()
        expect(page.get_by_role("heading", name="Le tue ricerche")).to_be_visible()
        expect(page.get_by_text("12.345")).to_be_visible()
        shoot(page, site, "home-italian")
        page.get_by_role("link", name="Nuova ricerca").first.click()
        expect(page.get_by_label("File dei contatti")).to_be_visible()
        page.get_by_role("button", name="English").click()
        expect(page.get_by_label("Leads file")).to_be_visible()
        page.goto("/")
        expect(page.get_by_role("heading", name="Your searches")).to_be_visible()  # remembered
        page.get_by_role("button", name="Italiano").click()
        expect(page).to_have_url(re.compile(r"/$"))
        expect(page.get_by_role("heading", name="Le tue ricerche")).to_be_visible()
    finally:
        context.close()
