"""Signing in and out in a real browser; the key never shows up in a page, a URL or a cookie."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.web.conftest import Site, shoot, sign_in


def test_wrong_key_gets_the_apis_message(page: Any, site: Site) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/sign-in$"))
    shoot(page, site, "sign-in")
    page.get_by_label("API key").fill("trova_not-a-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("This apikey is not valid")
    assert page.context.cookies() and all(c["name"] != "trova_session" for c in page.context.cookies())


def test_sign_in_shows_credits_then_sign_out_ends_the_session(page: Any, site: Site) -> None:
    key = site.account("signer", credits=12_345)
    sign_in(page, key)
    expect(page.get_by_role("heading", name="Your searches")).to_be_visible()
    expect(page.get_by_text("12,345")).to_be_visible()
    expect(page.get_by_role("link", name="New search").first).to_be_visible()
    shoot(page, site, "home-empty")
    session = next(c for c in page.context.cookies() if c["name"] == "trova_session")
    assert session["httpOnly"] and session["sameSite"] == "Lax"
    assert key not in page.content() and key not in session["value"] and key not in page.url
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/sign-in$"))
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/sign-in$"))
    assert key not in (site.root / "server.log").read_text()


def test_rotating_the_key_ends_the_session(page: Any, site: Site) -> None:
    from trova.accounts import service as accounts
    from trova.store import Database

    key = site.account("rotated")
    sign_in(page, key)
    db = Database(site.url)
    try:
        with db.write() as conn:
            accounts.rotate_key(conn, accounts.require_account(conn, "rotated").id)
    finally:
        db.dispose()
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/sign-in$"))
