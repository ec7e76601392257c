"""The operator console in a real browser: token sign-in, account actions with confirmation,
the suppression list, and one audit row per action."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from playwright.sync_api import expect

from tests.support.servers import run_trova
from tests.web.conftest import Site, shoot
from trova.store import tables


def audit_actions(site: Site) -> list[tuple[str, str | None]]:
    engine = sa.create_engine(site.url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(tables.operator_actions.c.action, tables.operator_actions.c.subject)
                .order_by(tables.operator_actions.c.id)
            ).all()
    finally:
        engine.dispose()
    return [(str(r.action), r.subject) for r in rows]


def accounts(page: Any) -> Any:
    return page.get_by_role("table", name="Accounts").get_by_role("row")


def test_operator_console(page: Any, site: Site) -> None:
    page.goto("/admin")
    page.get_by_label("Operator token").fill("trova_op_wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("This operator token is not valid")
    token = run_trova("admin", "token", env=site.env, cwd=site.root).stdout.strip()
    assert token.startswith("trova_op_")
    assert token not in (site.root / "trova.db").read_bytes().decode("latin-1")  # stored hashed
    page.get_by_label("Operator token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Accounts")).to_be_visible()

    page.get_by_label("Account name").fill("opsy")
    page.get_by_label("Credits", exact=True).fill("500")
    page.get_by_role("button", name="Create account").click()
    first_key = page.locator("#shown-key").inner_text()
    assert first_key.startswith("trova_")
    row = accounts(page).filter(has_text="opsy")
    expect(row).to_contain_text("500")

    page.get_by_label("Credits to add to opsy").fill("250")
    page.get_by_role("button", name="Top up opsy").click()
    expect(accounts(page).filter(has_text="opsy")).to_contain_text("750")

    page.get_by_role("button", name="Disable phone of opsy").click()
    expect(page.get_by_role("alert")).to_contain_text("Disable the phone feature")
    page.get_by_role("button", name="Confirm").click()
    expect(accounts(page).filter(has_text="opsy")).to_contain_text("disabled")
    with site.api(first_key) as client:
        assert client.get("/phone/bulk", params={"id": "x"}).json() == {
            "message": "This account is not allowed to use the phone search feature"
        }

    page.get_by_role("button", name="Rotate key of opsy").click()
    page.get_by_role("button", name="Confirm").click()
    second_key = page.locator("#shown-key").inner_text()
    assert second_key != first_key
    with site.api(first_key) as client:
        assert client.get("/account/info").status_code == 401
    with site.api(second_key) as client:
        assert client.get("/account/info").status_code == 200

    page.get_by_label("Number (+…) or LinkedIn URL").fill("+33612345678")
    page.get_by_role("button", name="Suppress").click()
    entry = page.get_by_role("table", name="Suppression list").get_by_role("row").filter(has_text="phone")
    expect(entry).to_be_visible()
    shoot(page, site, "admin")
    entry.get_by_role("button", name=re.compile("Remove entry")).click()
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("table", name="Suppression list").get_by_role("row").filter(has_text="phone")).to_have_count(0)

    assert [action for action, _subject in audit_actions(site)] == [
        "create", "topup", "disable_phone", "rotate_key", "suppress", "unsuppress"
    ]
    page.get_by_role("button", name="Sign out of the console").click()
    expect(page.get_by_label("Operator token")).to_be_visible()
