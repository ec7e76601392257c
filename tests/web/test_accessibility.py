"""axe-core (shipped under tests/web/vendor) run in every page: no critical or serious violation.
And /docs and /redoc render with every request outside this server blocked (offline)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.support.servers import run_trova
from tests.web.conftest import Site, shoot, sign_in
from tests.web.test_security import small_csv

AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"


def violations(page: Any) -> list[str]:
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("axe.run(document).then(r => r.violations)")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} - {[n['target'] for n in v['nodes']][:3]}"
        for v in found if v["impact"] in ("critical", "serious")
    ]


def test_no_serious_accessibility_violation(browser: Any, site: Site, tmp_path: Path) -> None:
    context = browser.new_context(base_url=site.base_url, bypass_csp=True)  # to inject axe
    try:
        page = context.new_page()
        page.goto("/sign-in")
        problems = {"sign-in": violations(page)}
        sign_in(page, site.account("axe"))
        problems["home"] = violations(page)
        page.goto("/searches/new")
        problems["new"] = violations(page)
        page.get_by_label("Leads file").set_input_files(str(small_csv(tmp_path / "a.csv", 12)))
        page.get_by_role("button", name="Continue").click()
        expect(page).to_have_url(re.compile(r"/searches/uploads/"))
        problems["preview"] = violations(page)
        page.get_by_role("button", name="Find phones").click()
        expect(page).to_have_url(re.compile(r"/searches/[0-9a-f-]{36}$"))
        problems["ongoing"] = violations(page)
        site.work()
        expect(page.locator("#status")).to_have_text("completed", timeout=60_000)
        problems["completed"] = violations(page)
        page.goto("/find")
        problems["find"] = violations(page)
        page.goto("/admin")
        problems["admin-sign-in"] = violations(page)
        page.get_by_label("Operator token").fill(
            run_trova("admin", "token", env=site.env, cwd=site.root).stdout.strip()
        )
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Accounts")).to_be_visible()
        problems["admin"] = violations(page)
        page.get_by_role("button", name=re.compile("Rotate key of")).first.click()
        expect(page.get_by_role("button", name="Confirm")).to_be_visible()
        problems["admin-confirm"] = violations(page)
        page.goto("/opt-out")
        problems["opt-out"] = violations(page)
        assert {name: found for name, found in problems.items() if found} == {}
    finally:
        context.close()


def test_docs_and_redoc_work_offline(page: Any, site: Site) -> None:
    outside: list[str] = []

    def only_local(route: Any) -> None:
        if route.request.url.startswith(site.base_url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    page.goto("/docs")
    expect(page.locator(".swagger-ui .title").first).to_contain_text("Trova")
    expect(page.get_by_text("/phone/bulk").first).to_be_visible()
    shoot(page, site, "docs")
    page.goto("/redoc")
    expect(page.get_by_role("heading", name=re.compile("Trova")).first).to_be_visible()
    expect(page.get_by_text("Start a batch of searches").first).to_be_visible()
    shoot(page, site, "redoc")
    assert outside == []
