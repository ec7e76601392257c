"""Validating requests, submitting batches and reading results (validation is pure; storage on both DBs)."""

from __future__ import annotations

from typing import Any

import pytest

from trova.accounts import service as accounts
from trova.accounts.models import Account, Split
from trova.batches import outcomes as outcomes_repo
from trova.batches import repository as batches_repo
from trova.batches import service as batches
from trova.batches.events import single_result
from trova.errors import (
    BadRequest,
    BulkNotFound,
    InsufficientCredits,
    InvalidJson,
    InvalidLinkedinUrl,
    InvalidWebhookUrl,
    MissingMandatoryProperty,
    NoSearches,
    SearchNotFound,
    TooManySearches,
)
from trova.settings import Settings
from trova.store import Database
from trova.store.tables import batches as batches_table
from trova.store.tables import jobs as jobs_table
from trova.store.tables import searches as searches_table

SETTINGS = Settings(job_chunk_size=2)
GOOD = {"linkedin_url": "https://www.linkedin.com/in/ada-lovelace"}


def new_account(db: Database, credits: int = 1000, paygo: int = 0, name: str = "acme") -> Account:
    with db.write() as conn:
        return accounts.create_account(conn, name, credits=credits, paygo=paygo).account


@pytest.mark.parametrize(
    ("body", "error", "message"),
    [
        ([1, 2], InvalidJson, "Invalid JSON input"),
        ({}, MissingMandatoryProperty, "Missing mandatory property"),
        ({"first_name": "Ada"}, MissingMandatoryProperty, "Missing mandatory property"),
        ({"linkedin_url": "https://example.com/in/x"}, InvalidLinkedinUrl, "Invalid linkedin_url"),
        ({**GOOD, "settings": {"webhook": "http://example.com/h"}}, InvalidWebhookUrl, "Invalid webhook url"),
        ({**GOOD, "settings": {"webhook": 3}}, InvalidWebhookUrl, "Invalid webhook url"),
        ({**GOOD, "settings": "https://example.com"}, InvalidWebhookUrl, "Invalid webhook url"),
    ],
)
def test_single_refusals(body: Any, error: type[BadRequest], message: str) -> None:
    with pytest.raises(error) as caught:
        batches.read_single(body, SETTINGS)
    assert caught.value.message == message


def test_single_keeps_params_as_sent_and_custom_apart() -> None:
    body = {
        "firstname": "Ada",
        "lastname": "Lovelace",
        "company_name": "Analytical",
        "custom": {"k": 1},
        "settings": {"webhook": "https://hooks.example.com/x"},
        "extra": [1],
    }
    submission = batches.read_single(body, SETTINGS)
    (search,) = submission.searches
    assert search.params == {
        "firstname": "Ada",
        "lastname": "Lovelace",
        "company_name": "Analytical",
        "extra": [1],
    }
    assert (search.custom, search.has_custom) == ({"k": 1}, True)
    assert submission.webhook_url == "https://hooks.example.com/x"
    assert batches.read_single(GOOD, SETTINGS).searches[0].has_custom is False


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("searches", "Invalid JSON input"),
        ({}, "At least 1 phone search must be present in the payload"),
        ({"searches": []}, "At least 1 phone search must be present in the payload"),
        ({"searches": "x"}, "At least 1 phone search must be present in the payload"),
        ({"searches": {"a": GOOD}}, "At least 1 phone search must be present in the payload"),
        ({"searches": [GOOD] * 3001}, "Too many searches. Limit is currently at 3000 per batch."),
        ({"searches": [GOOD, GOOD, 7, GOOD]}, "Missing mandatory property on search n°3 of 4"),
        ({"searches": [GOOD, {"first_name": "A"}]}, "Missing mandatory property on search n°2 of 2"),
        (
            {"searches": [{"linkedin_url": "https://x.com/a"}] + [GOOD] * 49},
            "Invalid linkedin_url on search n°1 of 50",
        ),
        ({"searches": [GOOD], "settings": {"webhook": "ftp://x"}}, "Invalid webhook url"),
    ],
)
def test_bulk_refusals(body: Any, message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        batches.read_bulk(body, SETTINGS)
    assert caught.value.message == message
    assert caught.value.status_code == 400


def test_too_many_is_its_own_error() -> None:
    with pytest.raises(TooManySearches):
        batches.read_bulk({"searches": [GOOD] * 3001}, SETTINGS)
    with pytest.raises(NoSearches):
        batches.read_bulk({"searches": None}, SETTINGS)


def test_job_ranges_cover_every_index_once() -> None:
    assert batches.job_ranges(5, 2) == [(0, 1), (2, 3), (4, 4)]
    assert batches.job_ranges(3000, 1000) == [(0, 999), (1000, 1999), (2000, 2999)]
    assert batches.job_ranges(1, 1000) == [(0, 0)]


def test_submit_stores_everything_in_one_go(db: Database) -> None:
    account = new_account(db, credits=100, paygo=100)
    submission = batches.read_bulk(
        {"searches": [GOOD, {**GOOD, "custom": "c1"}, GOOD, GOOD, GOOD], "custom": {"run": 1}}, SETTINGS
    )
    with db.write() as conn:
        submitted = batches.submit(conn, account, submission, SETTINGS)
    assert submitted.credits == Split(sub=100, paygo=100)
    assert submitted.estimated_duration_min == 1
    with db.read() as conn:
        batch = batches_repo.get_batch(conn, submitted.id)
        rows = conn.execute(searches_table.select().order_by(searches_table.c.idx)).all()
        job_rows = conn.execute(jobs_table.select().order_by(jobs_table.c.id)).all()
    assert batch is not None and (batch.kind, batch.status, batch.requested, batch.custom) == (
        "bulk",
        "ongoing",
        5,
        {"run": 1},
    )
    assert [row.idx for row in rows] == [0, 1, 2, 3, 4]
    assert [(row.reserved_sub, row.reserved_paygo) for row in rows] == [
        (40, 0),
        (40, 0),
        (20, 20),
        (0, 40),
        (0, 40),
    ]
    assert [(row.custom, row.has_custom) for row in rows][:2] == [(None, False), ('"c1"', True)]
    assert [(job.first_idx, job.last_idx, job.status) for job in job_rows] == [
        (0, 1, "queued"),
        (2, 3, "queued"),
        (4, 4, "queued"),
    ]


def test_submit_without_credits_leaves_nothing(db: Database) -> None:
    account = new_account(db, credits=79)
    submission = batches.read_bulk({"searches": [GOOD, GOOD]}, SETTINGS)
    with pytest.raises(InsufficientCredits), db.write() as conn:
        batches.submit(conn, account, submission, SETTINGS)
    with db.read() as conn:
        assert conn.execute(batches_table.select()).first() is None
        assert conn.execute(jobs_table.select()).first() is None
        assert accounts.ledger_balance(conn, account.id) == Split(79, 0)


def test_a_stale_account_gets_the_split_of_the_balances_at_commit_and_rows_to_match(db: Database) -> None:
    stale = new_account(db, credits=100, paygo=200)
    with db.write() as conn:
        accounts.reserve(conn, stale.id, 70, batch_id="elsewhere")  # 30 subscription credits left
    submission = batches.read_bulk({"searches": [GOOD] * 3}, SETTINGS)
    with db.write() as conn:
        submitted = batches.submit(conn, stale, submission, SETTINGS)
    assert submitted.credits == Split(sub=30, paygo=90)
    with db.read() as conn:
        batch = conn.execute(batches_table.select()).one()
        rows = conn.execute(searches_table.select().order_by(searches_table.c.idx)).all()
        totals = accounts.batch_ledger_totals(conn, submitted.id)
        balance = accounts.get_account(conn, stale.id)
    assert (batch.reserved_sub, batch.reserved_paygo) == (30, 90)
    assert [(row.reserved_sub, row.reserved_paygo) for row in rows] == [(30, 10), (0, 40), (0, 40)]
    assert totals == {"reserve": Split(-30, -90)}
    assert balance is not None and (balance.sub_credits, balance.paygo_credits) == (0, 110)
    with db.read() as conn:
        assert accounts.ledger_balance(conn, stale.id) == Split(0, 110)


def test_a_stale_account_s_single_search_is_written_once_with_the_split_taken(db: Database) -> None:
    stale = new_account(db, credits=100, paygo=200)
    with db.write() as conn:
        accounts.reserve(conn, stale.id, 70, batch_id="elsewhere")  # 30 subscription credits left
    settings = Settings(price_per_phone=40)
    with db.write() as conn:
        submitted = batches.submit(conn, stale, batches.read_single(GOOD, settings), settings)
        assert conn.execute(batches_table.select()).first() is None  # its rows wait for the commit
    assert submitted.credits == Split(sub=30, paygo=10)
    with db.read() as conn:
        batch = conn.execute(batches_table.select()).one()
        search = conn.execute(searches_table.select()).one()
        job = conn.execute(jobs_table.select()).one()
        totals = accounts.batch_ledger_totals(conn, submitted.id)
        balance = accounts.get_account(conn, stale.id)
    assert (batch.id, batch.kind, batch.requested) == (submitted.id, "single", 1)
    assert (batch.reserved_sub, batch.reserved_paygo) == (30, 10)
    assert (search.id, search.batch_id) == (batch.id, batch.id)
    assert (search.reserved_sub, search.reserved_paygo) == (30, 10)
    assert (job.batch_id, job.status, job.first_idx, job.last_idx) == (submitted.id, "queued", 0, 0)
    assert totals == {"reserve": Split(-30, -10)}
    assert balance is not None and (balance.sub_credits, balance.paygo_credits) == (0, 190)


def test_a_stale_account_short_of_credits_is_served_after_a_top_up(db: Database) -> None:
    stale = new_account(db, credits=10)
    with db.write() as conn:
        accounts.topup(conn, stale.id, Split(sub=0, paygo=70))
    with db.write() as conn:
        submitted = batches.submit(conn, stale, batches.read_single(GOOD, SETTINGS), SETTINGS)
    assert submitted.credits == Split(sub=10, paygo=30)
    with db.read() as conn:
        assert accounts.ledger_balance(conn, stale.id) == Split(0, 40)
        assert conn.execute(searches_table.select()).one().reserved_paygo == 30


def test_a_stale_account_no_longer_covered_is_refused_and_leaves_nothing(db: Database) -> None:
    stale = new_account(db, credits=80)
    with db.write() as conn:
        accounts.reserve(conn, stale.id, 50, batch_id="elsewhere")
    with pytest.raises(InsufficientCredits), db.write() as conn:
        batches.submit(conn, stale, batches.read_single(GOOD, SETTINGS), SETTINGS)
    with db.read() as conn:
        assert conn.execute(batches_table.select()).first() is None
        assert accounts.ledger_balance(conn, stale.id) == Split(30, 0)
        assert [entry.kind for entry in accounts.ledger(conn, stale.id)] == ["topup", "reserve"]


def test_single_id_is_the_search_id_and_other_accounts_see_nothing(db: Database) -> None:
    owner = new_account(db)
    other = new_account(db, name="other")
    with db.write() as conn:
        submitted = batches.submit(
            conn, owner, batches.read_single({**GOOD, "custom": 5}, SETTINGS), SETTINGS
        )
    with db.read() as conn:
        row = batches.get_single(conn, owner, submitted.id)
        done, body = row.status == "done", single_result(row)
        assert (done, body) == (
            False,
            {"id": submitted.id, "params": GOOD, "custom": 5, "qualification": "ongoing"},
        )
        with pytest.raises(SearchNotFound):
            batches.get_single(conn, other, submitted.id)
        with pytest.raises(BulkNotFound):
            batches.get_bulk(conn, owner, submitted.id)


def test_estimated_duration_counts_the_work_ahead(db: Database) -> None:
    account = new_account(db, credits=10_000_000)
    settings = Settings(job_chunk_size=1000)
    with db.write() as conn:
        for _ in range(5):
            batches.submit(conn, account, batches.read_bulk({"searches": [GOOD] * 3000}, settings), settings)
        assert batches_repo.searches_left(conn) == 15_000
        assert batches.estimated_duration_min(conn, settings) == 3  # 15,000 at the default 6,000/min


def test_concurrent_submissions_never_overdraw(db: Database) -> None:
    import concurrent.futures

    account = new_account(db, credits=10 * 80 - 40, paygo=40)
    submission = batches.read_bulk({"searches": [GOOD, GOOD]}, SETTINGS)

    def submit(_: int) -> str:
        try:
            with db.write() as conn:
                batches.submit(conn, account, submission, SETTINGS)
            return "created"
        except InsufficientCredits:
            return "refused"

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = sorted(pool.map(submit, range(30)))
    assert outcomes == ["created"] * 10 + ["refused"] * 20
    with db.read() as conn:
        after = accounts.get_account(conn, account.id)
        assert after is not None and after.credits == 0
        assert accounts.ledger_balance(conn, account.id) == Split(0, 0)
        assert conn.execute(batches_table.select()).all().__len__() == 10


def test_concurrent_submissions_across_both_pools_agree_with_their_ledger_rows(db: Database) -> None:
    import concurrent.futures

    account = new_account(db, credits=100, paygo=1000)

    def submit(_: int) -> None:
        with db.read() as conn:
            fresh = accounts.get_account(conn, account.id)
        assert fresh is not None
        with db.write() as conn:
            batches.submit(conn, fresh, batches.read_single(GOOD, SETTINGS), SETTINGS)

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(submit, range(20)))
    with db.read() as conn:
        after = accounts.get_account(conn, account.id)
        assert after is not None and (after.sub_credits, after.paygo_credits) == (0, 300)
        assert accounts.ledger_balance(conn, account.id) == Split(0, 300)
        rows = conn.execute(batches_table.select()).all()
        search_rows = conn.execute(searches_table.select()).all()
        shares = {row.batch_id: (row.reserved_sub, row.reserved_paygo) for row in search_rows}
        reserves = {row.id: accounts.batch_ledger_totals(conn, row.id)["reserve"] for row in rows}
    assert len(rows) == 20
    for row in rows:
        assert (row.reserved_sub, row.reserved_paygo) == shares[row.id]
        assert reserves[row.id] == Split(-row.reserved_sub, -row.reserved_paygo)
    assert sorted(shares.values(), reverse=True)[:4] == [(40, 0), (40, 0), (20, 20), (0, 40)]


def test_progress_counts_found_searches_while_the_batch_runs(db: Database) -> None:
    from trova.people.models import SearchOutcome
    from trova.store import utcnow

    owner = new_account(db)
    other = new_account(db, name="other")
    with db.write() as conn:
        submission = batches.read_bulk({"searches": [GOOD, GOOD]}, SETTINGS)
        submitted = batches.submit(conn, owner, submission, SETTINGS)
    with db.write() as conn:
        batch, found = batches.progress_of(conn, owner, submitted.id)
        assert (batch.status, batch.requested, found) == ("ongoing", 2, 0)
        of_batch = searches_table.c.batch_id == submitted.id
        first = conn.execute(searches_table.select().where(of_batch, searches_table.c.idx == 0)).one()
        outcome = SearchOutcome(search_id=first.id, qualification="found", number="+33612345678",
                                country="FR", line_type="mobile", person_key="p:1")
        outcomes_repo.write_outcomes(conn, [outcome], {first.id}, now=utcnow())
    with db.read() as conn:
        assert batches.progress_of(conn, owner, submitted.id)[1] == 1
        with pytest.raises(BulkNotFound):
            batches.progress_of(conn, other, submitted.id)


@pytest.mark.parametrize("char", ["\u0000", "\u0001", "\u001f", "\u007f", "\u0085", "\u009f"])
def test_control_characters_refuse_the_search(char: str) -> None:
    with pytest.raises(InvalidLinkedinUrl):
        batches.normalise({"linkedin_url": f"https://www.linkedin.com/in/a{char}b"})
    with pytest.raises(MissingMandatoryProperty):
        batches.normalise({"first_name": "Ada", "last_name": "Lovelace", "company_domain": f"a{char}.com"})
    with pytest.raises(MissingMandatoryProperty):
        batches.normalise({"linkedin_url": "linkedin.com/in/ada", "full_name": f"Ada{char} Lovelace"})


def test_tab_and_line_breaks_are_white_space_not_control_characters() -> None:
    search = batches.normalise({"linkedin_url": "\thttps://www.linkedin.com/in/ada\r\n", "x": "\u0000"})
    assert search.linkedin_key == "ada"
