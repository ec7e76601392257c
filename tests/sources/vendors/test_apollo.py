"""Apollo (``kind = "apollo"``) against a loopback fake of People Match that really POSTs its
callback to a real ``trova serve`` (subprocess) on the same database: the phones arrive by
callback, a forged or replayed callback is refused, a reveal pending at the deadline is not found
then collected after a restart, never paid twice."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.sources.provider import running
from tests.sources.support import health, resolve, stats
from tests.sources.vendors.fakes import FakeApollo, Phone
from tests.sources.vendors.support import (
    ENV,
    batch_through_serve,
    call_rows,
    linkedin,
    vendor_config,
    write_config,
)
from tests.support.servers import TrovaServer, run_trova
from trova.finder.service import Finder
from trova.settings import SourceConfig
from trova.sources.config import parse_sources
from trova.sources.kinds import build_source
from trova.sources.waterfall import Waterfall
from trova.store import Database
from trova.store.tables import source_batches, source_callbacks


@pytest.fixture
def fake() -> Iterator[FakeApollo]:
    with running(FakeApollo()) as server:
        yield server


@pytest.fixture
def trova(db_url: str, db: Database, tmp_path: Path) -> Iterator[TrovaServer]:
    """``trova serve`` on the test's database: the callback endpoint Apollo reaches."""
    env = {"TROVA_DATABASE_URL": db_url}
    with TrovaServer(env, log_path=tmp_path / "serve.log") as server:
        yield server


def finder(db: Database, fake: FakeApollo, public_url: str | None, **extra: Any) -> Finder:
    """A finder whose waterfall is Apollo alone, built as ``trova serve`` builds it (a restart each time)."""
    options = {"price": 8, "deadline_s": 30, "wait_interval_s": 0.01, **extra}
    specs = parse_sources([SourceConfig(**vendor_config("apollo", fake, **options))])
    sources = {
        s.name: build_source(s, environ=ENV, db=db, public_url=public_url) for s in specs if s.kind != "local"
    }
    return Finder(db, upstream=Waterfall(db, specs, sources))


def batches(db: Database) -> list[tuple[str | None]]:
    with db.read() as conn:
        return [tuple(row) for row in conn.execute(sa.select(source_batches.c.outcome))]


def test_phones_arrive_by_callback_with_the_do_not_call_flag(
    db: Database, fake: FakeApollo, trova: TrovaServer
) -> None:
    fake.people["ada"] = [Phone("+33612345678", do_not_call=True)]
    [answer] = resolve(finder(db, fake, trova.base_url), [linkedin("ada")])
    assert (answer.number, answer.do_not_call, answer.sources) == ("+33612345678", True, ("apollo",))
    [match] = [r for r in fake.received if r.path == "/api/v1/people/match"]
    assert match.method == "POST" and match.headers["x-api-key"] == "test-key"
    assert match.query["reveal_phone_number"] == ["true"]
    assert match.query["linkedin_url"] == ["https://www.linkedin.com/in/ada"]
    webhook_url = match.query["webhook_url"][0]
    token = webhook_url.rsplit("/", 1)[1]
    assert webhook_url == f"{trova.base_url}/v1/callbacks/{token}" and len(token) >= 40
    assert fake.deliveries == [(200, {"received": True})]
    assert [(r.outcome, r.billed, r.cost) for r in call_rows(db, "apollo")] == [("found", True, 8.0)]
    with db.read() as conn:
        [stored] = conn.execute(sa.select(source_callbacks)).all()
    assert stored.payload["people"][0]["phone_numbers"][0]["dnc_status_cd"] == "dnc"
    assert token not in str(tuple(stored))


def test_a_replayed_or_forged_callback_is_refused_in_the_envelope(
    db: Database, fake: FakeApollo, trova: TrovaServer
) -> None:
    fake.people["ada"] = [Phone("+33612345678")]
    resolve(finder(db, fake, trova.base_url), [linkedin("ada")])
    [(url, payload)] = fake.sent
    replay = httpx.post(url, json={"people": [{"phone_numbers": [{"sanitized_number": "+33699999999"}]}]})
    assert (replay.status_code, replay.json()) == (409, {"message": "Callback already received"})
    forged = httpx.post(f"{trova.base_url}/v1/callbacks/guessed-token", json=payload)
    assert (forged.status_code, forged.json()) == (404, {"message": "Unknown callback"})
    with db.read() as conn:
        [stored] = conn.execute(sa.select(source_callbacks.c.payload)).scalars().all()
    assert stored == payload
    [again] = resolve(Finder(db), [linkedin("ada")])
    assert again.number == "+33612345678"


def test_no_match_is_remembered_and_not_billed(db: Database, fake: FakeApollo, trova: TrovaServer) -> None:
    [answer] = resolve(finder(db, fake, trova.base_url), [linkedin("nobody")])
    assert not answer.found and fake.deliveries == []
    resolve(finder(db, fake, trova.base_url), [linkedin("nobody")])
    assert len(fake.received) == 1
    assert [(r.outcome, r.billed) for r in call_rows(db, "apollo")] == [("no_match", False)]


def test_a_reveal_pending_at_the_deadline_is_collected_after_a_restart_and_paid_once(
    db: Database, fake: FakeApollo, trova: TrovaServer
) -> None:
    fake.people["ada"] = [Phone("+33612345678")]
    fake.hold = True
    [first] = resolve(finder(db, fake, trova.base_url, deadline_s=0.2), [linkedin("ada")])
    assert not first.found and batches(db) == [(None,)]
    [meanwhile] = resolve(finder(db, fake, trova.base_url, deadline_s=0.2), [linkedin("ada")])
    posts = [r for r in fake.received if r.method == "POST"]
    assert not meanwhile.found and len(posts) == 1
    assert fake.release() == [200]
    [collected] = resolve(finder(db, fake, trova.base_url), [linkedin("ada")])
    assert collected.number == "+33612345678" and posts == [r for r in fake.received if r.method == "POST"]
    assert batches(db) == [("collected",)]
    assert [(r.outcome, r.billed, r.cost) for r in call_rows(db, "apollo")] == [("found", True, 8.0)]
    assert fake.billed == 1


def test_bad_key_disables_the_source(db: Database, fake: FakeApollo) -> None:
    fake.people["ada"] = [Phone("+33612345678")]
    fake.key = "another"
    [answer] = resolve(finder(db, fake, "http://127.0.0.1:9"), [linkedin("ada")])
    state = health(db, "apollo")
    assert not answer.found and state is not None and state.disabled_at is not None


def test_out_of_credits_exhausts_the_source(db: Database, fake: FakeApollo) -> None:
    fake.people["ada"] = [Phone("+33612345678")]
    fake.credits = 0
    [answer] = resolve(finder(db, fake, "http://127.0.0.1:9"), [linkedin("ada")])
    state = health(db, "apollo")
    assert not answer.found and state is not None and state.exhausted_at is not None
    assert "insufficient credits" in (state.last_error or "")


def test_without_a_public_url_apollo_is_not_asked(db: Database, fake: FakeApollo) -> None:
    fake.people["ada"] = [Phone("+33612345678")]
    [answer] = resolve(finder(db, fake, None), [linkedin("ada")])
    assert not answer.found and fake.received == []
    state = health(db, "apollo")
    assert state is not None and "TROVA_PUBLIC_URL" in (state.last_error or "")


def test_trova_serve_configured_with_apollo_receives_its_own_callbacks(tmp_path: Path) -> None:
    """The whole path as deployed: ``trova.toml`` names Apollo, ``TROVA_PUBLIC_URL`` is the server
    itself, a batch through the API is answered from the callback Apollo POSTed to that server."""
    with running(FakeApollo()) as fake:
        fake.people["ada"] = [Phone("+33612345678", do_not_call=True)]
        source = vendor_config("apollo", fake, price=8, wait_interval_s=0.02)
        bulk, public_url = batch_through_serve(tmp_path, source, [linkedin("ada"), linkedin("nobody")])
    assert [(r.number, r.raw.get("do_not_call"), r.raw.get("sources")) for r in bulk.results] == [
        ("+33612345678", True, ["apollo"]),
        (None, None, None),
    ]
    [match, _miss] = [r for r in fake.received if r.path == "/api/v1/people/match"]
    assert match.query["webhook_url"][0].startswith(f"{public_url}/v1/callbacks/")
    assert fake.deliveries == [(200, {"received": True})]


def test_a_lost_callback_is_polled_from_apollo_by_a_later_step_and_paid_once(
    db: Database, fake: FakeApollo, trova: TrovaServer
) -> None:
    fake.people["ada"] = [Phone("+33612345678")]
    fake.lose_callbacks = True
    fake.pending_polls = 1
    [first] = resolve(finder(db, fake, trova.base_url, deadline_s=0.2), [linkedin("ada")])
    assert not first.found and fake.deliveries == []
    [pending] = resolve(finder(db, fake, trova.base_url, deadline_s=0.2), [linkedin("ada")])
    assert not pending.found and batches(db) == [(None,)]
    [collected] = resolve(finder(db, fake, trova.base_url), [linkedin("ada")])
    assert collected.number == "+33612345678" and batches(db) == [("collected",)]
    [match] = [r for r in fake.received if r.method == "POST"]
    request_id = next(iter(fake.results))
    polls = [r.path for r in fake.received if r.method == "GET"]
    assert polls == [f"/api/v1/webhook_result/{request_id}"] * 2
    assert [(r.outcome, r.billed, r.cost) for r in call_rows(db, "apollo")] == [("found", True, 8.0)]
    late = httpx.post(match.query["webhook_url"][0], json=fake.results[request_id])
    assert (late.status_code, late.json()) == (409, {"message": "Callback already received"})


def test_without_a_public_url_the_cli_says_plainly_why_apollo_is_not_asked(
    db: Database, db_url: str, tmp_path: Path
) -> None:
    """Apollo requires a ``webhook_url`` with ``reveal_phone_number=true`` (its reference): without
    ``TROVA_PUBLIC_URL`` it is left out of the waterfall, and ``sources list``, ``sources stats`` and
    ``explain`` say so, with the documentation's address."""
    config = write_config(
        tmp_path / "trova.toml",
        {"name": "local", "kind": "local"},
        {"name": "apollo", "kind": "apollo", "api_key_env": "VENDOR_KEY", "price": 8},
    )
    env = {"TROVA_CONFIG": str(config), "TROVA_DATABASE_URL": db_url, "TROVA_PUBLIC_URL": "", **ENV}
    reference = "https://docs.apollo.io/reference/people-enrichment"
    [_local, listed] = json.loads(run_trova("sources", "list", "--json", env=env).stdout)
    assert listed["health"] == "not asked" and "TROVA_PUBLIC_URL is not set" in listed["detail"]
    assert reference in listed["detail"]
    [stats] = json.loads(run_trova("sources", "stats", "--json", env=env).stdout)
    assert stats["not_asked"].startswith("not asked: TROVA_PUBLIC_URL is not set")
    assert "apollo: not asked: TROVA_PUBLIC_URL is not set" in run_trova("sources", "stats", env=env).stdout
    args = ("explain", "--linkedin", "https://www.linkedin.com/in/ada")
    explained = json.loads(run_trova(*args, "--json", env=env).stdout)["upstream_order"]
    assert explained["vendors"] == [] and explained["not_asked"][0].startswith("apollo: not asked:")
    text = run_trova(*args, env=env).stdout
    assert "Vendors never asked in this configuration:\n  apollo: not asked: TROVA_PUBLIC_URL" in text
    asked = {**env, "TROVA_PUBLIC_URL": "https://trova.example.com"}
    [_local, listed] = json.loads(run_trova("sources", "list", "--json", env=asked).stdout)
    assert listed["health"] == "ok"
    assert json.loads(run_trova(*args, "--json", env=asked).stdout)["upstream_order"]["vendors"] == ["apollo"]


def test_rate_limited_backs_off_for_retry_after(db: Database, fake: FakeApollo) -> None:
    fake.people["ada"] = [Phone("+33612345678")]
    fake.behaviour.status = 429
    fake.behaviour.retry_after = "120"
    [answer] = resolve(finder(db, fake, "http://127.0.0.1:9"), [linkedin("ada")])
    state = health(db, "apollo")
    assert not answer.found and state is not None and state.backoff_until is not None
    [again] = resolve(finder(db, fake, "http://127.0.0.1:9"), [linkedin("ada")])
    assert not again.found and len(fake.received) == 1


def test_timeout_falls_through_unremembered_and_is_asked_again(db: Database, fake: FakeApollo) -> None:
    fake.people["ada"] = [Phone("+33612345678")]
    fake.behaviour.delay_s = 1.0
    fake.lose_callbacks = True
    [answer] = resolve(finder(db, fake, "http://127.0.0.1:9", timeout_s=0.2, retries=0), [linkedin("ada")])
    assert not answer.found and batches(db) == []
    assert (health(db, "apollo") or pytest.fail("no health")).last_error is not None
    fake.behaviour.delay_s = 0
    resolve(finder(db, fake, "http://127.0.0.1:9", deadline_s=0.2), [linkedin("ada")])
    assert len([r for r in fake.received if r.method == "POST"]) == 2


def test_malformed_answer_is_an_error_not_a_miss(db: Database, fake: FakeApollo) -> None:
    fake.people["ada"] = [Phone("+33612345678")]
    fake.malformed = True
    [answer] = resolve(finder(db, fake, "http://127.0.0.1:9"), [linkedin("ada")])
    assert not answer.found and stats(db, "apollo").misses == 0
    assert (health(db, "apollo") or pytest.fail("no health")).consecutive_failures == 1


def test_a_masked_or_invalid_number_is_not_a_find_and_not_billed(
    db: Database, fake: FakeApollo, trova: TrovaServer
) -> None:
    fake.people["ada"] = [Phone("+33612345678", masked=True)]
    [answer] = resolve(finder(db, fake, trova.base_url), [linkedin("ada")])
    fake.join()
    assert not answer.found and fake.deliveries == [(200, {"received": True})]
    assert [(r.outcome, r.billed) for r in call_rows(db, "apollo")] == [("no_match", False)]
