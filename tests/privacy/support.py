"""Helpers of the privacy tests: a small contact store, accounts that search it, and a database scan."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tests.finder.builder import StoreBuilder
from trova.accounts import service as accounts
from trova.accounts.models import Account
from trova.api.bodies import bulk_body
from trova.batches import service as batches
from trova.batches.step import BatchStep
from trova.erasure.selectors import selector_from
from trova.finder.service import Finder
from trova.jobs import service as jobs
from trova.privacy import suppressions
from trova.settings import Settings
from trova.store import Database, utcnow
from trova.store.tables import metadata

SETTINGS = Settings(price_per_phone=40, job_chunk_size=100)

ADA_URL = "https://www.linkedin.com/in/ada-lovelace"
ADA_PHONE = "+33612345678"
BOB_URL = "https://www.linkedin.com/in/bob-babbage"
BOB_PHONE = "+33698765432"
CARL_PHONE = "+447400123456"

ADA_BY_URL = {"linkedin_url": ADA_URL}
ADA_BY_NAME = {"first_name": "Ada", "last_name": "Lovelace", "company_domain": "example.com"}
BOB_BY_URL = {"linkedin_url": BOB_URL}
CARL_BY_NAME = {"first_name": "Carl", "last_name": "Gauss", "company_name": "Gauss Ltd"}

SELECTORS: dict[str, dict[str, str]] = {
    "phone": {"phone": "+33 6 12 34 56 78"},
    "linkedin": {"linkedin": "http://LinkedIn.com/in/ADA-LOVELACE/?trk=x"},
    "name_domain": {"first": "ADA", "last": "Lovelace", "domain": "https://www.example.com/about"},
}
"""Three ways an operator names Ada (``trova suppress|erase|audit`` options)."""


def build_store(db: Database) -> dict[str, int]:
    """Ada (profile, names at example.com, one mobile), Bob (profile, one mobile), Carl (names at
    Gauss Ltd, one UK mobile): person ids by first name."""
    store = StoreBuilder(db)
    example = store.company("Example", domains=("example.com",))
    gauss = store.company("Gauss Ltd")
    return {
        "ada": store.person("Ada", "Lovelace", at=(example,), linkedin=ADA_URL, phones=(ADA_PHONE,)),
        "bob": store.person("Bob", "Babbage", at=(example,), linkedin=BOB_URL, phones=(BOB_PHONE,)),
        "carl": store.person("Carl", "Gauss", at=(gauss,), phones=(CARL_PHONE,)),
    }


def account(db: Database, name: str, credits: int = 10_000) -> Account:
    with db.write() as conn:
        return accounts.create_account(conn, name, credits=credits, paygo=0).account


def submit_bulk(
    db: Database, owner: Account, searches: list[Mapping[str, Any]], webhook: str | None = None
) -> str:
    body: dict[str, Any] = {"searches": searches}
    if webhook:
        body["settings"] = {"webhook": webhook}
    settings = Settings(webhook_allow_http=True, webhook_allow_private=True)
    with db.write() as conn:
        return batches.submit(conn, owner, batches.read_bulk(body, settings), SETTINGS).id


def submit_single(db: Database, owner: Account, search: Mapping[str, Any], webhook: str | None = None) -> str:
    body: dict[str, Any] = dict(search)
    if webhook:
        body["settings"] = {"webhook": webhook}
    settings = Settings(webhook_allow_http=True, webhook_allow_private=True)
    with db.write() as conn:
        return batches.submit(conn, owner, batches.read_single(body, settings), SETTINGS).id


def work(db: Database) -> int:
    """Run the real job path with the real finder (contact store only) until the queue is empty."""
    return jobs.run_until_idle(db, SETTINGS, BatchStep(db, SETTINGS, Finder(db)))


def bulk_results(db: Database, owner: Account, batch_id: str) -> dict[str, Any]:
    with db.read() as conn:
        return bulk_body(batches.get_bulk(conn, owner, batch_id))


def credits_of(db: Database, owner: Account) -> int:
    with db.read() as conn:
        found = accounts.get_account(conn, owner.id)
    assert found is not None
    return found.credits


def rows_holding(db: Database, number: str) -> list[str]:
    """``table.column`` of every stored value whose digits contain the number's digits (every table)."""
    digits = re.sub(r"\D", "", number)
    found: list[str] = []
    with db.read() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(sa.select(table)).mappings():
                for column, value in row.items():
                    if value is not None and digits in re.sub(r"\D", "", str(value)):
                        found.append(f"{table.name}.{column}")
    return found


def write_csv(path: Path, rows: Sequence[Mapping[str, str]]) -> Path:
    columns = ["linkedin_url", "first_name", "last_name", "company_name", "company_domain", "phone", "source"]
    lines = [",".join(columns)] + [",".join(row.get(column, "") for column in columns) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def suppress(db: Database, **selection: str) -> None:
    with db.write() as conn:
        suppressions.suppress(conn, selector_from(**selection).subjects(), now=utcnow())


def found_numbers(results: dict[str, Any]) -> list[str | None]:
    return [row.get("number") for row in results["results"]]
