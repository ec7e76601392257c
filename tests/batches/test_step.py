"""The batch job step on both databases: claims, leases, fencing, charging once, retries and give-up."""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tests.support.statements import statements_sent
from trova.accounts import service as accounts
from trova.accounts.models import Account, Split
from trova.api.bodies import bulk_body
from trova.batches import repository as batches_repo
from trova.batches import service as batches
from trova.batches import step as batch_step
from trova.batches.events import single_result
from trova.batches.models import NewSearch, Submission
from trova.batches.step import BatchStep
from trova.finder.service import Finder
from trova.jobs import repository as jobs_repo
from trova.jobs import service as jobs
from trova.people.models import Answer, Search
from trova.settings import Settings
from trova.store import Database, utcnow
from trova.store.tables import job_attempts, webhook_messages
from trova.store.tables import jobs as jobs_table

SETTINGS = Settings(job_chunk_size=2, job_max_attempts=2, job_lease_s=60)


class TableFinder(Finder):
    """A finder answering from a fixed table of LinkedIn keys (the contact store is the finder's concern)."""

    def __init__(self, db: Database, table: dict[str, Answer] | None = None) -> None:
        super().__init__(db)
        self.table = table or {}
        self.calls = 0

    def resolve_many(self, searches: Sequence[Search]) -> list[Answer]:
        self.calls += 1
        return [self.table.get(search.linkedin_key or "", Answer(person_key=None)) for search in searches]


class BrokenFinder(Finder):
    def resolve_many(self, searches: Sequence[Search]) -> list[Answer]:
        raise RuntimeError("upstream down")


def li(name: str) -> dict[str, str]:
    return {"linkedin_url": f"https://www.linkedin.com/in/{name}"}


def found(person: str, number: str = "+33612345678") -> Answer:
    return Answer(person_key=person, number=number, country="FR", line_type="mobile", sources=("local",))


def setup(db: Database, credits: int, paygo: int, body: Mapping[str, object]) -> tuple[Account, str]:
    with db.write() as conn:
        account = accounts.create_account(
            conn, "acme", credits=credits, paygo=paygo, webhook_url="https://hooks.example.com/t"
        ).account
        submitted = batches.submit(conn, account, batches.read_bulk(body, SETTINGS), SETTINGS)
    return account, submitted.id


def balances(conn: Connection, account_id: int) -> Split:
    account = accounts.get_account(conn, account_id)
    assert account is not None
    return Split(account.sub_credits, account.paygo_credits)


def test_batch_completes_charging_each_person_once(db: Database) -> None:
    body = {"searches": [li("ada"), li("nobody"), li("bob"), li("ada-again"), li("ada")], "custom": {"r": 1}}
    account, batch_id = setup(db, credits=100, paygo=200, body=body)
    finder = TableFinder(
        db, {"ada": found("p:1"), "ada-again": found("p:1"), "bob": found("p:2", "+33700000000")}
    )
    assert jobs.run_until_idle(db, SETTINGS, BatchStep(db, SETTINGS, finder)) == 3
    with db.read() as conn:
        result = bulk_body(batches.get_bulk(conn, account, batch_id))
        assert balances(conn, account.id) == accounts.ledger_balance(conn, account.id)
        final = balances(conn, account.id)
        messages = conn.execute(webhook_messages.select()).all()
    assert result["general"] == {"id": batch_id, "status": "completed", "custom": {"r": 1}}
    assert [r["index"] for r in result["results"]] == [0, 1, 2, 3, 4]
    assert [r["qualification"] for r in result["results"]] == [
        "found",
        "not_found",
        "found",
        "found",
        "found",
    ]
    assert "number" not in result["results"][1] and result["results"][2]["number"] == "+33700000000"
    # ada (index 0) and bob (index 2) are charged; nobody, and the two other copies of ada, are refunded
    assert result["stats"] == {
        "requested": 5,
        "finished": 5,
        "found": 4,
        "valid": 4,
        "credits_cost": 80,
        "credits_to_refund": 120,
    }
    # reserved: 0→40 sub, 1→40 sub, 2→20 sub + 20 paygo, 3→40 paygo, 4→40 paygo; charged: 0 and 2
    assert final == Split(sub=100 - 40 - 20, paygo=200 - 20)
    assert len(messages) == 1
    assert messages[0].payload == {
        "event": "bulk_phone_search_finished",
        "id": batch_id,
        "credits": {"cost": 80},
        "custom": {"r": 1},
    }


def test_single_webhook_carries_the_get_body(db: Database) -> None:
    with db.write() as conn:
        account = accounts.create_account(conn, "acme", credits=40).account
        submission = batches.read_single(
            {**li("ada"), "custom": "x", "settings": {"webhook": "https://h.example/1"}}, SETTINGS
        )
        single_id = batches.submit(conn, account, submission, SETTINGS).id
    jobs.run_until_idle(db, SETTINGS, BatchStep(db, SETTINGS, TableFinder(db, {"ada": found("p:1")})))
    with db.read() as conn:
        row = batches.get_single(conn, account, single_id)
        done, body = row.status == "done", single_result(row)
        message = conn.execute(webhook_messages.select()).one()
    assert done and body == {
        "id": single_id,
        "params": li("ada"),
        "custom": "x",
        "qualification": "found",
        "number": "+33612345678",
        "country": "FR",
        "line_type": "mobile",
        "sources": ["local"],
    }
    assert message.url == "https://h.example/1"
    assert message.payload == {
        "event": "single_phone_search_finished",
        "id": single_id,
        "credits": {"cost": 40},
        "result": body,
    }


def test_a_single_search_without_a_webhook_url_builds_no_payload(db: Database) -> None:
    with db.write() as conn:
        account = accounts.create_account(conn, "acme", credits=80).account
    polled, polled_sent = _single_run_with_statements(db, account, {})
    hooked, hooked_sent = _single_run_with_statements(
        db, account, {"settings": {"webhook": "https://h.example/1"}}
    )
    with db.read() as conn:
        statuses = [batches.get_single(conn, account, sid).status for sid in (polled, hooked)]
        messages = conn.execute(sa.select(webhook_messages.c.batch_id)).scalars().all()
    ledger_reads = [
        sum(
            "FROM ledger_entries" in statement and statement.lstrip().upper().startswith("SELECT")
            for statement in sent
        )
        for sent in (polled_sent, hooked_sent)
    ]
    assert statuses == ["done", "done"] and messages == [hooked]
    assert ledger_reads == [0, 1], "the cost is read for the webhook's payload only"


def _single_run_with_statements(
    db: Database, account: Account, extra: Mapping[str, object]
) -> tuple[str, list[str]]:
    """Submit one single search, run the worker until idle; its id and the statements the run sent."""
    with db.write() as conn:
        single_id = batches.submit(
            conn, account, batches.read_single({**li("ada"), **extra}, SETTINGS), SETTINGS
        ).id
    with statements_sent(db) as sent:
        jobs.run_until_idle(db, SETTINGS, BatchStep(db, SETTINGS, TableFinder(db)))
    return single_id, sent


def test_an_expired_lease_is_claimed_again_and_the_old_holder_is_fenced(db: Database) -> None:
    account, batch_id = setup(db, credits=1000, paygo=0, body={"searches": [li("ada"), li("bob")]})
    now = utcnow()
    with db.write() as conn:
        (first,) = jobs_repo.claim(
            conn, owner="a", limit=5, now=now, lease_until=now + dt.timedelta(seconds=60)
        )
    with db.write() as conn:
        assert (
            jobs_repo.claim(conn, owner="b", limit=5, now=now, lease_until=now + dt.timedelta(seconds=60))
            == []
        )
    later = now + dt.timedelta(seconds=61)
    with db.write() as conn:
        (second,) = jobs_repo.claim(
            conn, owner="b", limit=5, now=later, lease_until=later + dt.timedelta(seconds=60)
        )
    assert (second.id, second.attempts, first.attempts) == (first.id, 2, 1)
    finder = TableFinder(db, {"ada": found("p:1")})
    (read,) = batch_step.read_jobs(db, [first])
    pending = read.pending
    outcomes = batches.outcomes_for(pending, batch_step.resolve(finder, batch_step.normalised(pending)))
    assert batch_step.record(db, first, outcomes) is False
    with db.read() as conn:
        assert bulk_body(batches.get_bulk(conn, account, batch_id))["stats"]["finished"] == 0
    assert batch_step.process(db, SETTINGS, finder, second) is True
    assert batch_step.record(db, first, outcomes) is False
    with db.read() as conn:
        result = bulk_body(batches.get_bulk(conn, account, batch_id))
        attempts = [row.outcome for row in conn.execute(job_attempts.select().order_by(job_attempts.c.id))]
        assert balances(conn, account.id) == Split(1000 - 40, 0) == accounts.ledger_balance(conn, account.id)
    assert result["stats"]["finished"] == 2 and result["stats"]["credits_cost"] == 40
    assert attempts == ["lost", "done"]


def test_a_failing_job_is_retried_then_given_up_and_refunded(db: Database) -> None:
    account, batch_id = setup(db, credits=40, paygo=40, body={"searches": [li("ada"), li("bob")]})
    broken = BatchStep(db, SETTINGS, BrokenFinder(db))
    assert jobs.run_once(db, SETTINGS, broken, "w") == 1
    with db.read() as conn:
        job = conn.execute(jobs_table.select()).one()
    assert (job.status, job.attempts) == ("queued", 1) and "upstream down" in job.last_error
    assert jobs.run_once(db, SETTINGS, broken, "w") == 1
    with db.read() as conn:
        job = conn.execute(jobs_table.select()).one()
        result = bulk_body(batches.get_bulk(conn, account, batch_id))
        assert balances(conn, account.id) == Split(40, 40) == accounts.ledger_balance(conn, account.id)
    assert job.status == "failed"
    assert result["general"]["status"] == "failed"
    assert result["stats"]["credits_cost"] == 0 and result["stats"]["credits_to_refund"] == 80
    assert {r["qualification"] for r in result["results"]} == {"not_found"}


def test_a_batch_with_some_work_done_is_completed_not_failed(db: Database) -> None:
    account, batch_id = setup(db, credits=1000, paygo=0, body={"searches": [li("a"), li("b"), li("c")]})
    finder = TableFinder(db, {"a": found("p:1")})
    assert jobs.run_once(db, SETTINGS, BatchStep(db, SETTINGS, finder), "w") == 1
    broken = BatchStep(db, SETTINGS, BrokenFinder(db))
    while jobs.run_once(db, SETTINGS, broken, "w"):
        pass
    with db.read() as conn:
        result = bulk_body(batches.get_bulk(conn, account, batch_id))
    assert result["general"]["status"] == "completed"
    assert result["stats"]["credits_cost"] == 40 and result["stats"]["finished"] == 3


def test_a_claim_past_max_attempts_gives_up_at_once(db: Database) -> None:
    account, batch_id = setup(db, credits=1000, paygo=0, body={"searches": [li("a")]})
    now = utcnow()
    for step in range(3):
        at = now + dt.timedelta(seconds=120 * step)
        with db.write() as conn:
            (job,) = jobs_repo.claim(
                conn, owner=f"w{step}", limit=1, now=at, lease_until=at + dt.timedelta(seconds=60)
            )
    assert job.attempts == 3
    finder = TableFinder(db, {"a": found("p:1")})
    assert batch_step.process(db, SETTINGS, finder, job) is True
    assert finder.calls == 0
    with db.read() as conn:
        assert bulk_body(batches.get_bulk(conn, account, batch_id))["general"]["status"] == "failed"


# --- one search never fails its neighbours (issue 17, defect 2) ------------------------------------

ISOLATING = Settings(job_chunk_size=10, job_max_attempts=5, job_lease_s=60)


class PoisonFinder(TableFinder):
    """Raises for any call whose searches include the LinkedIn key ``poison`` (a search the store
    cannot read), answers the others from its table."""

    def resolve_many(self, searches: Sequence[Search]) -> list[Answer]:
        if any(search.linkedin_key == "poison" for search in searches):
            self.calls += 1
            raise ValueError("cannot read this search")
        return super().resolve_many(searches)


def submit_raw(db: Database, params: list[dict[str, str]], credits: int = 1000) -> tuple[Account, str]:
    """Store a batch as given, bypassing the API's validation (as rows stored by an older version)."""
    with db.write() as conn:
        account = accounts.create_account(conn, "acme", credits=credits).account
        submission = Submission(kind="bulk", searches=tuple(NewSearch(params=p) for p in params))
        return account, batches.submit(conn, account, submission, ISOLATING).id


def test_a_search_that_raises_is_not_found_alone_and_the_rest_completes(db: Database) -> None:
    account, batch_id = submit_raw(db, [li("ada"), li("bob"), li("poison"), li("cy"), li("dee")])
    finder = PoisonFinder(db, {"ada": found("p:1"), "cy": found("p:3", "+33700000003")})
    assert jobs.run_until_idle(db, ISOLATING, BatchStep(db, ISOLATING, finder)) == 1
    with db.read() as conn:
        result = bulk_body(batches.get_bulk(conn, account, batch_id))
        errors = batches_repo.search_errors_of(conn, batch_id)
        assert balances(conn, account.id) == accounts.ledger_balance(conn, account.id)
        final = balances(conn, account.id)
        attempts = conn.execute(job_attempts.select()).all()
    assert result["general"]["status"] == "completed"
    assert [r["qualification"] for r in result["results"]] == [
        "found",
        "not_found",
        "not_found",
        "found",
        "not_found",
    ]
    # the poisoned search is refunded like any not-found one: two found searches are charged
    assert result["stats"]["credits_cost"] == 80 and final == Split(sub=1000 - 80, paygo=0)
    (poisoned,) = errors.values()
    assert poisoned == ["ValueError: cannot read this search"]
    assert [a.outcome for a in attempts] == ["done"]


def test_a_finder_failing_for_every_search_retries_the_job(db: Database) -> None:
    _account, batch_id = submit_raw(db, [li("poison")])
    finder = PoisonFinder(db)
    jobs.run_until_idle(db, ISOLATING, BatchStep(db, ISOLATING, finder))
    with db.read() as conn:
        attempts = conn.execute(job_attempts.select()).all()
        errors = batches_repo.search_errors_of(conn, batch_id)
    assert len(attempts) == ISOLATING.job_max_attempts and errors == {}


def test_a_nul_character_stored_in_a_search_fails_only_that_search(db: Database) -> None:
    bad = {"linkedin_url": "https://www.linkedin.com/in/a\u0000b", "company_domain": "x\u0000.com"}
    account, batch_id = submit_raw(db, [li("ada"), bad, li("bob")])
    assert jobs.run_until_idle(db, ISOLATING, BatchStep(db, ISOLATING, Finder(db))) == 1
    with db.read() as conn:
        result = bulk_body(batches.get_bulk(conn, account, batch_id))
        errors = batches_repo.search_errors_of(conn, batch_id)
    assert result["general"]["status"] == "completed"
    assert [r["qualification"] for r in result["results"]] == ["not_found"] * 3
    assert result["results"][1]["params"] == bad
    # a stored search with a NUL no longer validates: it is never sent to the store (PostgreSQL would
    # refuse the NUL in a text parameter), and answers not_found like any search that identifies nobody
    assert errors == {}


def test_single_jobs_claimed_together_are_recorded_together_each_fenced(db: Database) -> None:
    with db.write() as conn:
        account = accounts.create_account(conn, "acme", credits=200).account
        for name in ("ada", "bob", "nobody"):
            batches.submit(conn, account, Submission("single", (NewSearch(li(name)),)), SETTINGS)
    claimed = jobs.claim_jobs(db, SETTINGS, "w1")
    assert len(claimed) == 3  # one claim for the small jobs queued together
    later = utcnow() + dt.timedelta(days=1)
    with db.write() as conn:  # the first one's lease lost: another worker took it
        (stolen,) = jobs_repo.claim(conn, owner="w2", limit=1, now=later, lease_until=later)
    assert stolen.id == claimed[0].id
    finder = TableFinder(db, {"ada": found("p:1"), "bob": found("p:2")})
    assert BatchStep(db, SETTINGS, finder).run_many(claimed) == 2
    with db.read() as conn:
        rows = conn.execute(
            sa.select(jobs_table.c.status, jobs_table.c.lease_owner).order_by(jobs_table.c.id)
        ).all()
        outcomes = conn.execute(sa.select(job_attempts.c.outcome).order_by(job_attempts.c.id)).scalars().all()
        assert balances(conn, account.id) == Split(120, 0)  # 3 x 40 taken, nobody's refunded
    assert [tuple(row) for row in rows] == [("running", "w2"), ("done", None), ("done", None)]
    assert outcomes == ["lost", "done", "done", None]
    assert jobs.run_until_idle(db, SETTINGS, BatchStep(db, SETTINGS, finder)) == 0  # w2 holds the first


def recording_statements(db: Database, account_name: str, names: Sequence[str]) -> int:
    """Statements SQLAlchemy sends while ``run_many`` runs the single searches of ``names``, claimed
    together (``COPY`` and the statements run on the driver, as ``insert_new``'s pages, are not
    seen: their count depends on the rows, not on the jobs)."""
    with db.write() as conn:
        account = accounts.create_account(conn, account_name, credits=10_000).account
        for name in names:
            batches.submit(conn, account, Submission("single", (NewSearch(li(name)),)), SETTINGS)
    claimed = jobs.claim_jobs(db, SETTINGS, "w1")
    assert len(claimed) == len(names)
    finder = TableFinder(db, {name: found(f"p:{name}") for name in names if name.startswith("known")})
    with statements_sent(db) as sent:
        assert BatchStep(db, SETTINGS, finder).run_many(claimed) == len(names)
    with db.read() as conn:
        charged = sum(1 for name in names if name.startswith("known"))
        assert balances(conn, account.id) == Split(10_000 - 40 * charged, 0)
    return len(sent)


def test_single_jobs_recorded_together_send_as_many_statements_for_sixty_four_as_for_two(
    db: Database,
) -> None:
    few = recording_statements(db, "few", ["known-a", "unknown-a"])
    many = recording_statements(
        db, "many", [f"known-{n}" for n in range(32)] + [f"unknown-{n}" for n in range(32)]
    )
    assert many <= few  # the same statements; on PostgreSQL the many audit subjects go by COPY


def test_jobs_of_one_batch_recorded_together_charge_a_person_once_and_complete_it_once(db: Database) -> None:
    settings = Settings(job_chunk_size=1, job_max_attempts=2, job_lease_s=60)
    body = {"searches": [li("ada"), li("ada-again"), li("bob"), li("nobody")]}
    with db.write() as conn:
        account = accounts.create_account(
            conn, "acme", credits=1000, webhook_url="https://hooks.example.com/t"
        ).account
        batch_id = batches.submit(conn, account, batches.read_bulk(body, settings), settings).id
    claimed = jobs.claim_jobs(db, settings, "w1")
    assert len(claimed) == 4  # four jobs of one search each, claimed together
    finder = TableFinder(
        db, {"ada": found("p:1"), "ada-again": found("p:1"), "bob": found("p:2", "+33698765432")}
    )
    assert BatchStep(db, settings, finder).run_many(claimed) == 4
    assert finder.calls == 1  # one account: its four jobs resolved in one finder call
    with db.read() as conn:
        result = bulk_body(batches.get_bulk(conn, account, batch_id))
        assert (
            balances(conn, account.id) == Split(1000 - 2 * 40, 0) == accounts.ledger_balance(conn, account.id)
        )
        messages = conn.execute(sa.select(webhook_messages.c.batch_id)).scalars().all()
    assert result["status"] == "completed" and result["stats"]["finished"] == 4
    assert [r["qualification"] for r in result["results"]] == ["found", "found", "found", "not_found"]
    assert messages == [batch_id]


def test_jobs_of_two_accounts_recorded_together_refund_each_its_own(db: Database) -> None:
    with db.write() as conn:
        ann = accounts.create_account(conn, "ann", credits=100).account
        bea = accounts.create_account(conn, "bea", credits=0, paygo=100).account
        for account, name in ((ann, "ada"), (bea, "bob"), (ann, "nobody"), (bea, "nobody-else")):
            batches.submit(conn, account, Submission("single", (NewSearch(li(name)),)), SETTINGS)
    claimed = jobs.claim_jobs(db, SETTINGS, "w1")
    finder = TableFinder(db, {"ada": found("p:1"), "bob": found("p:2")})
    assert BatchStep(db, SETTINGS, finder).run_many(claimed) == 4
    assert finder.calls == 2  # one finder call per account (its upstream budget)
    with db.read() as conn:
        assert balances(conn, ann.id) == Split(60, 0) == accounts.ledger_balance(conn, ann.id)
        assert balances(conn, bea.id) == Split(0, 60) == accounts.ledger_balance(conn, bea.id)


class CollectorWatchingFinder(TableFinder):
    """Notes whether the cyclic garbage collector could run while each chunk was resolved."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.collector_enabled: list[bool] = []

    def resolve_many(self, searches: Sequence[Search]) -> list[Answer]:
        self.collector_enabled.append(gc.isenabled())
        return super().resolve_many(searches)


def test_the_step_runs_with_the_garbage_collector_paused_and_leaves_it_as_it_was(db: Database) -> None:
    setup(db, credits=1000, paygo=0, body={"searches": [li("ada"), li("bob")]})
    with db.write() as conn:
        account = accounts.create_account(conn, "solo", credits=200).account
        for name in ("cy", "di"):
            batches.submit(conn, account, Submission("single", (NewSearch(li(name)),)), SETTINGS)
    finder = CollectorWatchingFinder(db)
    assert gc.isenabled()
    assert jobs.run_until_idle(db, SETTINGS, BatchStep(db, SETTINGS, finder)) == 3  # a bulk job, two singles
    assert finder.collector_enabled == [False, False] and gc.isenabled()  # one call for the two singles


def test_a_single_search_that_raises_beside_others_is_retried_as_alone_and_the_others_complete(
    db: Database,
) -> None:
    with db.write() as conn:
        account = accounts.create_account(conn, "acme", credits=200).account
        ids = [
            batches.submit(conn, account, Submission("single", (NewSearch(li(name)),)), ISOLATING).id
            for name in ("ada", "poison", "nobody")
        ]
    finder = PoisonFinder(db, {"ada": found("p:1")})
    claimed = jobs.claim_jobs(db, ISOLATING, "w1")
    assert len(claimed) == 3
    assert BatchStep(db, ISOLATING, finder).run_many(claimed) == 2
    with db.read() as conn:
        statuses = [batches.get_single(conn, account, search_id).status for search_id in ids]
        job_rows = conn.execute(sa.select(jobs_table.c.status).order_by(jobs_table.c.id)).scalars().all()
        attempts = conn.execute(sa.select(job_attempts.c.outcome).order_by(job_attempts.c.id)).scalars().all()
        errors = [batches_repo.search_errors_of(conn, batch_id) for batch_id in ids]
    # the poisoned job is put back in the queue, its search pending, as it would be alone
    assert statuses == ["done", "pending", "done"]
    assert job_rows == ["done", "queued", "done"] and attempts == ["done", "error", "done"]
    assert errors == [{}, {}, {}]
