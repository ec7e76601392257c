"""A real ``trova serve --no-worker`` and a real headless Chromium (Debian's ``chromium`` package).

The workers run in the test process (``work``) so that a search page can be seen ``ongoing`` and
then ``completed`` without depending on timing. Playwright drives the browser through
``executable_path``; nothing is downloaded. Without Chromium the tests are skipped, except in CI
(``CI=true``), where that is a failure. Every page visited is saved as a PNG in
``TROVA_TEST_SCREENSHOTS`` (default: a temporary directory).
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.client.support import contact
from tests.support.servers import TrovaServer, run_trova
from trova.accounts import service as accounts
from trova.batches.step import BatchStep
from trova.finder.service import Finder
from trova.jobs import service as jobs
from trova.settings import Settings
from trova.store import Database

CHROMIUM = Path(os.environ.get("TROVA_CHROMIUM", "/usr/bin/chromium"))
IMPORTED = range(0, 1500)
SPARE = (9000,)
"""Imported too, but named by no lead file of the tests: the opt-out test erases it."""

pytestmark = pytest.mark.browser


@dataclass
class Site:
    server: TrovaServer
    url: str
    env: dict[str, str]
    root: Path
    shots: Path
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def account(self, name: str, credits: int = 1_000_000) -> str:
        db = Database(self.url)
        try:
            with db.write() as conn:
                key = accounts.create_account(conn, name, credits=credits).api_key
        finally:
            db.dispose()
        self.keys[name] = key
        return key

    def work(self) -> int:
        """Run the workers in this process until the queue is empty (the store answers: no upstream)."""
        db = Database(self.url)
        try:
            settings = Settings(database_url=self.url)
            return jobs.run_until_idle(db, settings, BatchStep(db, settings, Finder(db)))
        finally:
            db.dispose()

    def api(self, key: str) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers={"x-api-key": key}, timeout=30)


def import_contacts(root: Path, env: dict[str, str]) -> None:
    path = root / "contacts.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["linkedin_url", "first_name", "last_name", "company_name", "company_domain",
                         "phone", "country", "source"])
        for i in (*IMPORTED, *SPARE):
            c = contact(i)
            writer.writerow([c.linkedin_url, c.first_name, c.last_name, c.company_name, c.company_domain,
                             c.phone, c.country, "crm"])
    run_trova("import", str(path), env=env, cwd=root)


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("web")
    url = f"sqlite:///{root / 'trova.db'}"
    env = {
        "TROVA_DATABASE_URL": url, "TROVA_LOG_LEVEL": "warning", "TROVA_API_KEY": "",
        "TROVA_WEB_MAX_UPLOAD_BYTES": str(5_000_000), "TROVA_RATE_LIMIT_POST_PER_S": "1000",
    }
    run_trova("migrate", env=env, cwd=root)
    import_contacts(root, env)
    server = TrovaServer(env, args=("serve", "--no-worker"), cwd=root, log_path=root / "server.log")
    server.start()
    shots = Path(os.environ.get("TROVA_TEST_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    try:
        yield Site(server, url, env, root, shots)
    finally:
        server.stop()


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """One Chromium for the web tests; package-scoped because Playwright's sync API keeps an event
    loop running in this thread while it is open, which tests of other packages (``asyncio.run``)
    cannot share."""
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: CI must install the chromium package (scripts/chromium)")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any, site: Site) -> Iterator[Any]:
    context = browser.new_context(base_url=site.base_url, accept_downloads=True, locale="en-US",
                                  viewport={"width": 1280, "height": 800})
    tab = context.new_page()
    tab.set_default_timeout(60_000)
    try:
        yield tab
    finally:
        context.close()


def shoot(page: Any, site: Site, name: str) -> Path:
    path = site.shots / f"{re.sub(r'[^a-z0-9-]+', '-', name.lower())}.png"
    page.screenshot(path=str(path))  # the viewport: what a person sees first
    return path


def sign_in(page: Any, key: str) -> None:
    page.goto("/sign-in")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/$"))
