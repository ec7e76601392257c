"""FullEnrich (``kind = "fullenrich"``) against a loopback fake of its API v2 contract: submitted in
bulk, polled with backoff, collected after a restart when it outlived the step's deadline; with
``TROVA_PUBLIC_URL``, called back at a real ``trova serve`` (subprocess) on the same database, polled
only when the callback does not come."""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa

from tests.sources.provider import running
from tests.sources.support import finder, health, resolve, stats
from tests.sources.vendors.fakes import FakeFullEnrich, Phone
from tests.sources.vendors.support import ENV, batch_through_serve, call_rows, linkedin, vendor_config
from tests.support.servers import TrovaServer
from trova.people.models import Answer
from trova.sources import repository as repo
from trova.store import Database
from trova.store.tables import source_batches, source_callbacks


@pytest.fixture
def fake() -> Iterator[FakeFullEnrich]:
    with running(FakeFullEnrich()) as server:
        yield server


def config(fake: FakeFullEnrich, **extra: Any) -> dict[str, Any]:
    options = {"price": 10, "poll_interval_s": 0.01, "poll_max_s": 0.05, "deadline_s": 10, **extra}
    return vendor_config("fullenrich", fake, **options)


def named(last: str) -> dict[str, str]:
    return {"first_name": "Ada", "last_name": last, "company_domain": "acme.fr"}


def test_hit_and_miss_in_one_bulk_request_as_documented(db: Database, fake: FakeFullEnrich) -> None:
    fake.people["ada"] = [Phone("+33612345678")]
    answers = resolve(finder(db, config(fake), environ=ENV), [linkedin("ada"), named("nobody")])
    assert [(a.number, a.sources) for a in answers] == [("+33612345678", ("fullenrich",)), (None, ())]
    posts = [r for r in fake.received if r.method == "POST"]
    assert len(posts) == 1 and posts[0].path == "/api/v2/contact/enrich/bulk"
    body = posts[0].body
    assert "webhook_url" not in body
    assert body["name"] and [c["enrich_fields"] for c in body["data"]] == [["contact.phones"]] * 2
    assert body["data"][0]["linkedin_url"] == "https://www.linkedin.com/in/ada"
    assert {k: body["data"][1][k] for k in ("first_name", "last_name", "domain")} == {
        "first_name": "ada",
        "last_name": "nobody",
        "domain": "acme.fr",
    }
    assert fake.polls == {"e-1": 2}
    rows = sorted((r.outcome, r.billed, r.cost, r.request_id) for r in call_rows(db, "fullenrich"))
    assert rows == [("found", True, 10.0, "e-1"), ("no_match", False, 0.0, "e-1")]
    resolve(finder(db, config(fake), environ=ENV), [named("nobody")])
    assert len([r for r in fake.received if r.method == "POST"]) == 1


def test_a_landline_is_found_but_not_billed(db: Database, fake: FakeFullEnrich) -> None:
    fake.people["desk"] = [Phone("+33142685300", kind="landline")]
    [answer] = resolve(finder(db, config(fake), environ=ENV), [named("desk")])
    assert answer.line_type == "fixed_line"
    assert [(r.outcome, r.billed) for r in call_rows(db)] == [("found", False)]


def test_bad_key_disables_the_source(db: Database, fake: FakeFullEnrich) -> None:
    fake.key = "another"
    [answer] = resolve(finder(db, config(fake), environ=ENV), [named("ada")])
    state = health(db, "fullenrich")
    assert not answer.found and state is not None and state.disabled_at is not None
    assert "error.api.key" in (state.disabled_reason or "")


def test_out_of_credits_keeps_what_was_found_and_exhausts(db: Database, fake: FakeFullEnrich) -> None:
    fake.people["ada"] = [Phone("+33612345678")]
    fake.people["bob"] = [Phone("+33698765432")]
    fake.credits = 1
    answers = resolve(finder(db, config(fake), environ=ENV), [named("ada"), named("bob")])
    state = health(db, "fullenrich")
    assert [a.found for a in answers] == [True, False]
    assert state is not None and state.exhausted_at is not None
    assert stats(db, "fullenrich").misses == 0


def test_rate_limited_backs_off(db: Database, fake: FakeFullEnrich) -> None:
    fake.throttle = 1
    [answer] = resolve(finder(db, config(fake), environ=ENV), [named("ada")])
    state = health(db, "fullenrich")
    assert not answer.found and state is not None and state.backoff_until is not None


def test_malformed_answer_is_an_error_not_a_miss(db: Database, fake: FakeFullEnrich) -> None:
    fake.people["ada"] = [Phone("+33612345678")]
    fake.malformed = True
    [answer] = resolve(finder(db, config(fake), environ=ENV), [named("ada")])
    assert not answer.found and stats(db, "fullenrich").misses == 0
    assert (health(db, "fullenrich") or pytest.fail("no health")).last_error is not None


def test_restart_while_pending_collects_instead_of_paying_again(db: Database, fake: FakeFullEnrich) -> None:
    """The deadline passes while the enrichment runs (timeout): its id is a row; a new waterfall (a
    restarted worker) collects it rather than sending the search again, and pays once."""
    fake.people["ada"] = [Phone("+33612345678")]
    fake.never_finish = True
    [first] = resolve(finder(db, config(fake, deadline_s=0.5), environ=ENV), [named("ada")])
    with db.read() as conn:
        pending = [row.upstream_id for row in conn.execute(source_batches.select())]
    assert not first.found and pending == ["e-1"]
    [meanwhile] = resolve(finder(db, config(fake, deadline_s=0.5), environ=ENV), [named("ada")])
    assert not meanwhile.found and len(fake.enrichments) == 1
    fake.never_finish = False
    [later] = resolve(finder(db, config(fake), environ=ENV), [named("ada")])
    assert later.number == "+33612345678" and len(fake.enrichments) == 1
    with db.read() as conn:
        assert repo.open_batches(conn, "fullenrich") == []
        assert repo.paid_twice(conn) == 0
    assert [(r.outcome, r.billed) for r in call_rows(db)] == [("found", True)]


@pytest.fixture
def trova(db_url: str, db: Database, tmp_path: Path) -> Iterator[TrovaServer]:
    """``trova serve`` on the test's database: the callback endpoint FullEnrich reaches."""
    with TrovaServer({"TROVA_DATABASE_URL": db_url}, log_path=tmp_path / "serve.log") as server:
        yield server


def called_back(db: Database, fake: FakeFullEnrich, trova: TrovaServer, **extra: Any) -> Any:
    """A finder (a new process, each time) whose FullEnrich calls back at ``trova``; its polls, the
    fallback, come late unless ``extra`` says otherwise."""
    options = {"poll_interval_s": 60.0, "poll_max_s": 60.0, "wait_interval_s": 0.01, **extra}
    return finder(db, config(fake, **options), environ=ENV, public_url=trova.base_url)


def test_a_callback_answers_without_polling_once_and_a_replay_or_a_guess_is_refused(
    db: Database, fake: FakeFullEnrich, trova: TrovaServer
) -> None:
    fake.people["ada"] = [Phone("+33612345678")]
    answers = resolve(called_back(db, fake, trova), [linkedin("ada"), named("nobody")])
    assert [a.number for a in answers] == ["+33612345678", None]
    [post] = [r for r in fake.received if r.method == "POST"]
    webhook_url = post.body["webhook_url"]
    token = webhook_url.rsplit("/", 1)[1]
    assert webhook_url == f"{trova.base_url}/v1/callbacks/{token}" and len(token) >= 40
    fake.join()
    assert fake.polls == {} and fake.deliveries == [(200, {"received": True})]
    [(_url, payload)] = fake.sent
    raw = orjson.dumps(payload)
    signed = {"X-Signature-SHA1": hmac.new(b"test-key", raw, hashlib.sha1).hexdigest()}
    replay = httpx.post(webhook_url, content=raw, headers={"Content-Type": "application/json", **signed})
    assert (replay.status_code, replay.json()) == (409, {"message": "Callback already received"})
    guessed = httpx.post(f"{trova.base_url}/v1/callbacks/{'x' * 43}", json=payload)
    assert (guessed.status_code, guessed.json()) == (404, {"message": "Unknown callback"})
    with db.read() as conn:
        [row] = conn.execute(sa.select(source_callbacks)).all()
    assert (row.source, row.request_id, row.payload) == ("fullenrich", "e-1", payload)
    assert token not in str(tuple(row))
    resolve(called_back(db, fake, trova), [linkedin("ada"), named("nobody")])
    assert len(fake.enrichments) == 1 and fake.billed == 1
    rows = sorted((r.outcome, r.billed, r.cost, r.request_id) for r in call_rows(db, "fullenrich"))
    assert rows == [("found", True, 10.0, "e-1"), ("no_match", False, 0.0, "e-1")]
    with db.read() as conn:
        assert repo.paid_twice(conn) == 0


def left_pending(db: Database, fake: FakeFullEnrich, trova: TrovaServer, *, lost: bool = False) -> None:
    """Ada's enrichment still running at the step's deadline, its callback held (or lost)."""
    fake.people["ada"] = [Phone("+33612345678")]
    fake.hold, fake.lose_callbacks, fake.never_finish = not lost, lost, True
    [first] = resolve(called_back(db, fake, trova, deadline_s=0.3), [named("ada")])
    assert not first.found


def finish_at_next_poll(fake: FakeFullEnrich) -> None:
    fake.never_finish = False
    fake.polls_before_done = 0


def test_a_callback_that_never_comes_falls_back_to_polling_and_is_kept_once(
    db: Database, fake: FakeFullEnrich, trova: TrovaServer
) -> None:
    fake.people["ada"] = [Phone("+33612345678")]
    fake.lose_callbacks = True
    [answer] = resolve(called_back(db, fake, trova, poll_interval_s=0.05), [named("ada")])
    assert answer.number == "+33612345678" and fake.polls == {"e-1": 2}
    [post] = [r for r in fake.received if r.method == "POST"]
    late = httpx.post(post.body["webhook_url"], json=fake.finished("e-1")[1])
    assert (late.status_code, late.json()) == (409, {"message": "Callback already received"})
    assert [(r.outcome, r.billed, r.cost) for r in call_rows(db)] == [("found", True, 10.0)]
    assert fake.billed == 1


def test_restart_while_a_callback_is_pending_reads_it_later_without_asking_again(
    db: Database, fake: FakeFullEnrich, trova: TrovaServer
) -> None:
    """The deadline passes before the callback (held): the enrichment is a row naming its callback;
    the next waterfall (a restarted worker) polls it (the fallback) but does not send the search
    again; once the callback came, a later one answers from it, without polling, and pays once."""
    left_pending(db, fake, trova)
    with db.read() as conn:
        [pending] = [row.upstream_id for row in conn.execute(source_batches.select())]
        hashes = list(conn.execute(sa.select(source_callbacks.c.token_hash)).scalars())
    assert hashes == [pending]
    [meanwhile] = resolve(called_back(db, fake, trova, deadline_s=0.3), [named("ada")])
    assert not meanwhile.found and len(fake.enrichments) == 1 and fake.polls == {"e-1": 1}
    assert fake.release() == [200]
    [later] = resolve(called_back(db, fake, trova), [named("ada")])
    assert later.number == "+33612345678" and len(fake.enrichments) == 1 and fake.polls == {"e-1": 1}
    with db.read() as conn:
        assert repo.open_batches(conn, "fullenrich") == []
        assert repo.paid_twice(conn) == 0
    assert [(r.outcome, r.billed, r.request_id) for r in call_rows(db)] == [("found", True, "e-1")]


def test_restart_while_pending_polls_when_the_callback_was_lost(
    db: Database, fake: FakeFullEnrich, trova: TrovaServer
) -> None:
    left_pending(db, fake, trova, lost=True)
    assert fake.polls == {}
    finish_at_next_poll(fake)
    [later] = resolve(called_back(db, fake, trova), [named("ada")])
    assert later.number == "+33612345678" and fake.polls == {"e-1": 1} and len(fake.enrichments) == 1
    with db.read() as conn:
        [payload] = conn.execute(sa.select(source_callbacks.c.payload)).scalars().all()
    assert payload["status"] == "FINISHED"
    assert [(r.outcome, r.billed) for r in call_rows(db)] == [("found", True)]


def test_a_request_that_times_out_falls_through_unremembered(db: Database, fake: FakeFullEnrich) -> None:
    fake.people["ada"] = [Phone("+33612345678")]
    fake.behaviour.delay_s = 1.0
    [answer] = resolve(finder(db, config(fake, timeout_s=0.2), environ=ENV), [named("ada")])
    assert not answer.found and stats(db, "fullenrich").misses == 0
    assert "Timeout" in ((health(db, "fullenrich") or pytest.fail("no health")).last_error or "")
    fake.behaviour.delay_s = 0
    [later] = resolve(finder(db, config(fake), environ=ENV), [named("ada")])
    assert later.number == "+33612345678"


def test_a_malformed_submission_answer_is_an_error_not_a_miss(db: Database, fake: FakeFullEnrich) -> None:
    fake.people["ada"] = [Phone("+33612345678")]
    fake.malformed_post = True
    [answer] = resolve(finder(db, config(fake), environ=ENV), [named("ada")])
    assert not answer.found and stats(db, "fullenrich").misses == 0
    assert "enrichment_id" in ((health(db, "fullenrich") or pytest.fail("no health")).last_error or "")


def test_a_malformed_callback_is_ignored_for_the_polled_result(
    db: Database, fake: FakeFullEnrich, trova: TrovaServer
) -> None:
    left_pending(db, fake, trova)
    [(url, _payload)] = fake.held
    assert httpx.post(url, json={"status": "SOMETHING", "data": "?"}).status_code == 200
    finish_at_next_poll(fake)
    [later] = resolve(called_back(db, fake, trova), [named("ada")])
    assert later.number == "+33612345678"
    assert [(r.outcome, r.billed) for r in call_rows(db)] == [("found", True)] and fake.billed == 1


def test_two_workers_and_a_repeated_search_cause_one_enrichment(db: Database, fake: FakeFullEnrich) -> None:
    """Never twice, asynchronously: the same person twice in one chunk and in two workers at once
    (each its own waterfall, as two processes) is one contact of one enrichment, paid once."""
    fake.people["ada"] = [Phone("+33612345678")]
    fake.polls_before_done = 3
    start = threading.Barrier(2)
    answers: list[Answer] = []

    def worker() -> None:
        own = finder(db, config(fake), environ=ENV)
        start.wait()
        answers.extend(resolve(own, [named("ada"), named("ada")]))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a.number for a in answers] == ["+33612345678"] * 4
    assert len(fake.enrichments) == 1 and [len(data) for data in fake.enrichments.values()] == [1]
    assert fake.billed == 1 and [(r.outcome, r.billed) for r in call_rows(db)] == [("found", True)]
    with db.read() as conn:
        assert repo.paid_twice(conn) == 0


def test_trova_serve_configured_with_fullenrich_receives_its_own_callbacks(tmp_path: Path) -> None:
    """As deployed: ``trova.toml`` names FullEnrich, ``TROVA_PUBLIC_URL`` is the server itself; a
    batch through the API is answered from the webhook FullEnrich POSTed to it, with no poll."""
    with running(FakeFullEnrich()) as fake:
        fake.people["ada"] = [Phone("+33612345678")]
        source = vendor_config("fullenrich", fake, price=10, poll_interval_s=60, wait_interval_s=0.02)
        bulk, public_url = batch_through_serve(tmp_path, source, [linkedin("ada"), linkedin("nobody")])
        fake.join()
    found = [(r.number, r.raw.get("sources")) for r in bulk.results]
    assert found == [("+33612345678", ["fullenrich"]), (None, None)]
    [post] = [r for r in fake.received if r.method == "POST"]
    assert post.body["webhook_url"].startswith(f"{public_url}/v1/callbacks/")
    assert fake.deliveries == [(200, {"received": True})] and fake.polls == {}
