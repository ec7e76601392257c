"""A real Trova deployment for client and bulk-tool tests: ``trova serve`` on a SQLite file, with
accounts made by ``trova accounts`` and contacts loaded by ``trova import``."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from tests.support.servers import TrovaServer, run_trova
from trova.accounts import service as accounts
from trova.accounts.models import Split
from trova.store import Database, tables

PRICE = 40


@dataclass(frozen=True, slots=True)
class Contact:
    """One imported person and the number the store holds for them."""

    linkedin_url: str
    first_name: str
    last_name: str
    company_name: str
    company_domain: str
    phone: str  # E.164, as the finder answers it
    country: str


def contact(i: int) -> Contact:
    return Contact(
        linkedin_url=f"https://www.linkedin.com/in/lead-{i:05d}",
        first_name=f"Firstname{i}",
        last_name=f"Lastname{i}",
        company_name=f"Company {i} SAS",
        company_domain=f"company{i}.fr",
        phone=f"+336{10000000 + i:08d}",
        country="FR",
    )


@dataclass
class Deployment:
    """The server under test, its database and helpers that go through the real ``trova`` command."""

    root: Path
    server: TrovaServer
    env: dict[str, str]
    contacts: dict[int, Contact] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def database_url(self) -> str:
        return self.env["TROVA_DATABASE_URL"]

    def create_account(self, name: str, credits: int) -> str:
        """A new account in the server's database (in-process: a ``trova`` start-up costs seconds)."""
        db = Database(self.database_url)
        try:
            with db.write() as conn:
                return accounts.create_account(conn, name, credits=credits).api_key
        finally:
            db.dispose()

    def topup(self, name: str, credits: int) -> None:
        db = Database(self.database_url)
        try:
            with db.write() as conn:
                accounts.topup(conn, accounts.require_account(conn, name).id, Split(sub=credits, paygo=0))
        finally:
            db.dispose()

    def import_contacts(self, ids: range) -> None:
        path = self.root / f"contacts-{ids.start}-{ids.stop}.csv"
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(
                [
                    "linkedin_url",
                    "first_name",
                    "last_name",
                    "company_name",
                    "company_domain",
                    "phone",
                    "country",
                    "source",
                ]
            )
            for i in ids:
                c = contact(i)
                national = "0" + c.phone[3:]
                writer.writerow(
                    [
                        c.linkedin_url,
                        c.first_name,
                        c.last_name,
                        c.company_name,
                        c.company_domain,
                        " ".join(national[k : k + 2] for k in range(0, 10, 2)),
                        c.country,
                        "crm",
                    ]
                )
                self.contacts[i] = c
        run_trova("import", str(path), env=self.env, cwd=self.root)

    def batches_of(self, account: str) -> int:
        """How many bulk batches the server created for ``account`` (read from the server's database)."""
        engine = sa.create_engine(self.database_url)
        try:
            with engine.connect() as conn:
                account_id = conn.execute(
                    sa.select(tables.accounts.c.id).where(tables.accounts.c.name == account)
                ).scalar_one()
                return int(
                    conn.execute(
                        sa.select(sa.func.count())
                        .select_from(tables.batches)
                        .where(tables.batches.c.account_id == account_id, tables.batches.c.kind == "bulk")
                    ).scalar_one()
                )
        finally:
            engine.dispose()


@contextmanager
def deployment(root: Path, extra_env: Mapping[str, str] | None = None) -> Iterator[Deployment]:
    """A migrated SQLite database, a running ``trova serve`` on it; stopped on exit."""
    root.mkdir(parents=True, exist_ok=True)
    env = {
        "TROVA_DATABASE_URL": f"sqlite:///{root / 'trova.db'}",
        "TROVA_WORKER_POLL_INTERVAL_S": "0.05",
        "TROVA_API_KEY": "",
        "TROVA_BASE_URL": "",
        **(extra_env or {}),
    }
    server = TrovaServer(env, cwd=root)
    with server:
        yield Deployment(root, server, env)
