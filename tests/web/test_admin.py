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


def suppressed(page: Any) -> Any:
    return page.get_by_role("table", name="Suppression list").get_by_role("row")


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
    entry = suppressed(page).filter(has_text="phone")
    expect(entry).to_be_visible()
    shoot(page, site, "admin")
    entry.get_by_role("button", name=re.compile("Remove entry")).click()
    page.get_by_role("button", name="Confirm").click()
    expect(suppressed(page).filter(has_text="phone")).to_have_count(0)

    assert [action for action, _subject in audit_actions(site)] == [
        "create", "topup", "disable_phone", "rotate_key", "suppress", "unsuppress"
    ]
    page.get_by_role("button", name="Sign out of the console").click()
    expect(page.get_by_label("Operator token")).to_be_visible()


def test_opt_out_request_then_approval_erases_and_suppresses(browser: Any, site: Site) -> None:
    from tests.client.support import contact
    from tests.web.conftest import SPARE

    person = contact(SPARE[0])
    context = browser.new_context(base_url=site.base_url)
    try:
        public = context.new_page()
        public.goto("/opt-out")
        public.get_by_role("button", name="Send request").click()
        expect(public.get_by_role("alert")).to_contain_text("Give the phone number")
        answers = []
        for phone, linkedin in ((person.phone, person.linkedin_url),
                                ("+33699999999", "https://www.linkedin.com/in/nobody-here")):
            public.goto("/opt-out")
            public.get_by_label("Phone number").fill(phone)
            public.get_by_label("LinkedIn URL").fill(linkedin)
            public.get_by_role("button", name="Send request").click()
            answers.append(public.get_by_role("status").inner_text())
        assert answers[0] == answers[1] and answers[0].startswith("Thank you")  # reveals nothing
        shoot(public, site, "opt-out")
    finally:
        context.close()

    key = site.account("optout-checker")
    with site.api(key) as client:
        posted = client.post("/phone/single", json={"linkedin_url": person.linkedin_url})
        assert posted.status_code == 201

    token = run_trova("admin", "token", env=site.env, cwd=site.root).stdout.strip()
    context = browser.new_context(base_url=site.base_url)
    try:
        page = context.new_page()
        page.goto("/admin")
        page.get_by_label("Operator token").fill(token)
        page.get_by_role("button", name="Sign in").click()
        requests = page.get_by_role("table", name="Opt-out requests").get_by_role("row")
        expect(requests.filter(has_text=person.linkedin_url)).to_have_count(1)
        request_row = requests.filter(has_text=person.linkedin_url)
        request_row.get_by_role("button", name=re.compile("Approve request")).click()
        page.get_by_role("button", name="Confirm").click()
        expect(requests.filter(has_text=person.linkedin_url)).to_have_count(0)
        stranger = requests.filter(has_text="nobody-here")
        stranger.get_by_role("button", name=re.compile("Reject request")).click()
        expect(page.get_by_text("No pending request.")).to_be_visible()
        expect(suppressed(page).filter(has_text="linkedin")).not_to_have_count(0)
    finally:
        context.close()
    actions = [action for action, _subject in audit_actions(site)]
    assert actions.count("optout_request") == 2
    assert "approve_optout" in actions and "reject_optout" in actions
    site.work()  # the search posted before the approval is answered after it
    with site.api(key) as client:
        answer = client.get("/phone/single", params={"id": posted.json()["id"]}).json()
    assert answer["qualification"] == "not_found"
    db_engine = sa.create_engine(site.url)
    try:
        with db_engine.connect() as conn:
            details = conn.execute(sa.select(tables.optout_requests.c.details)).scalars().all()
    finally:
        db_engine.dispose()
    assert details == [None, None]  # what the person typed is cleared once decided


def failed_message(site: Site, account: str) -> str:
    """A webhook message given up on (one attempt answered 410), made through the webhooks service."""
    from trova.accounts import service as accounts
    from trova.settings import Settings
    from trova.store import Database, utcnow
    from trova.webhooks import service as webhooks
    from trova.webhooks.models import Outcome

    db = Database(site.url)
    try:
        with db.write() as conn:
            account_id = accounts.require_account(conn, account).id
            message_id = webhooks.notify(
                conn, account_id=account_id, batch_id="00000000-0000-4000-8000-000000000000",
                url="https://hooks.example/receiver", event="bulk_phone_search_finished",
                payload={"event": "bulk_phone_search_finished"},
            )
            assert message_id is not None
            claimed = webhooks.claim(conn, owner="test", limit=100, lease_s=60)
            message = next(m for m in claimed if m.id == message_id)
            outcome = Outcome("stop", utcnow(), 5, status_code=410, error="HTTP 410")
            settings = Settings(database_url=site.url)
            webhooks.record_outcome(conn, message, outcome, owner="test", settings=settings)
    finally:
        db.dispose()
    return message_id


def test_console_redelivers_a_failed_webhook_and_shows_sources(page: Any, site: Site) -> None:
    site.account("hooked")
    message_id = failed_message(site, "hooked")
    token = run_trova("admin", "token", env=site.env, cwd=site.root).stdout.strip()
    page.goto("/admin")
    page.get_by_label("Operator token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Only the local store is configured.")).to_be_visible()
    failed = page.get_by_role("table", name="Failed webhook deliveries").get_by_role("row")
    expect(failed.filter(has_text="hooks.example")).to_have_count(1)
    page.get_by_role("button", name=f"Redeliver {message_id}").click()
    expect(page.get_by_text("No failed delivery.")).to_be_visible()
    assert ("redeliver", message_id) in audit_actions(site)


def test_console_shows_and_sets_the_upstream_budget(page: Any, site: Site) -> None:
    from trova.accounts import service as account_service
    from trova.store import Database, utcnow

    site.account("budgeted")
    db = Database(site.url)
    try:
        with db.write() as conn:
            account_id = account_service.require_account(conn, "budgeted").id
            conn.execute(sa.insert(tables.source_calls).values(
                source="pdl", search_key="k" * 64, billed=True, cost=7.5, outcome="found",
                called_at=utcnow(), account_id=account_id,
            ))
    finally:
        db.dispose()
    token = run_trova("admin", "token", env=site.env, cwd=site.root).stdout.strip()
    page.goto("/admin")
    page.get_by_label("Operator token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    row = accounts(page).filter(has_text="budgeted")
    expect(row).to_contain_text("no limit")
    expect(row).to_contain_text("7.5")

    page.get_by_label("Upstream budget per month of budgeted (empty: no limit)").fill("120.5")
    page.get_by_role("button", name="Set upstream budget of budgeted").click()
    expect(row).to_contain_text("120.5")
    expect(row).not_to_contain_text("no limit")
    listed = run_trova("accounts", "upstream-budget", "budgeted", env=site.env, cwd=site.root).stdout
    assert listed.strip() == "budgeted: upstream budget 120.5 per month; spent this month 7.5"

    page.get_by_label("Upstream budget per month of budgeted (empty: no limit)").fill("")
    page.get_by_role("button", name="Set upstream budget of budgeted").click()
    expect(accounts(page).filter(has_text="budgeted")).to_contain_text("no limit")
    budgets = [s for a, s in audit_actions(site) if a == "upstream_budget"]
    assert budgets == ["budgeted", "budgeted"]
    engine = sa.create_engine(site.url)
    try:
        with engine.connect() as conn:
            details = conn.execute(
                sa.select(tables.operator_actions.c.detail)
                .where(tables.operator_actions.c.action == "upstream_budget")
                .order_by(tables.operator_actions.c.id)
            ).scalars().all()
    finally:
        engine.dispose()
    assert details == [{"per_month": 120.5}, {"per_month": None}]
