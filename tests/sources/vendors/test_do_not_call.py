"""Do-not-call flags: carried from the vendor to every result (finder answers, GET /phone/single and
/phone/bulk, the webhook event), and ``TROVA_EXCLUDE_DO_NOT_CALL`` makes flagged numbers not_found
and not charged (docs/finder.md §3.8, docs/api.md §9)."""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.client.support import deployment
from tests.sources.provider import running
from tests.sources.support import resolve, waterfall
from tests.sources.vendors.fakes import FakeLusha, FakePdl, Phone
from tests.sources.vendors.support import ENV, call_rows, linkedin, vendor_config, write_config
from tests.webhooks.receiver import receiver, wait_for
from trova.client import Client
from trova.finder.service import Finder
from trova.store import Database


def test_the_vendor_flag_reaches_the_answer_and_unknown_stays_unknown(db: Database) -> None:
    with running(FakeLusha()) as lusha, running(FakePdl()) as pdl:
        lusha.people["ada"] = [Phone("+33612345678", do_not_call=True)]
        lusha.people["bob"] = [Phone("+33698765432", do_not_call=False)]
        pdl.people["cy"] = [Phone("+33611111111")]
        upstream = waterfall(db, vendor_config("lusha", lusha), vendor_config("pdl", pdl), environ=ENV)
        answers = resolve(Finder(db, upstream), [linkedin("ada"), linkedin("bob"), linkedin("cy")])
    assert [(a.number, a.do_not_call) for a in answers] == [
        ("+33612345678", True),
        ("+33698765432", False),
        ("+33611111111", None),
    ]
    [again] = resolve(Finder(db), [linkedin("ada")])
    assert (again.number, again.do_not_call) == ("+33612345678", True)


def test_excluded_flagged_number_is_not_found_and_the_next_vendor_is_asked(db: Database) -> None:
    with running(FakeLusha()) as lusha, running(FakePdl()) as pdl:
        lusha.people["ada"] = [Phone("+33612345678", do_not_call=True)]
        lusha.people["bob"] = [Phone("+33698765432", do_not_call=True)]
        pdl.people["bob"] = [Phone("+33622222222")]
        upstream = waterfall(db, vendor_config("lusha", lusha), vendor_config("pdl", pdl), environ=ENV)
        finder = Finder(db, upstream, exclude_do_not_call=True)
        answers = resolve(finder, [linkedin("ada"), linkedin("bob")])
    assert [(a.found, a.number, a.reason) for a in answers] == [
        (False, None, "no_valid_number"),
        (True, "+33622222222", "linkedin"),
    ]
    assert sorted((row.source, row.outcome) for row in call_rows(db)) == [
        ("lusha", "found"),
        ("lusha", "found"),
        ("pdl", "found"),
        ("pdl", "no_match"),
    ]
    [later] = resolve(Finder(db, exclude_do_not_call=False), [linkedin("ada")])
    assert later.number == "+33612345678"


@pytest.mark.slow
@pytest.mark.parametrize("exclude", [False, True])
def test_results_and_webhooks_carry_the_flag_and_exclusion_is_free(tmp_path: Path, exclude: bool) -> None:
    with ExitStack() as stack:
        lusha = stack.enter_context(running(FakeLusha()))
        hook = stack.enter_context(receiver())
        lusha.people["ada"] = [Phone("+33612345678", do_not_call=True)]
        lusha.people["bob"] = [Phone("+33698765432", do_not_call=False)]
        config = write_config(tmp_path / "trova.toml", vendor_config("lusha", lusha))
        env = {
            **ENV,
            "TROVA_CONFIG": str(config),
            "TROVA_EXCLUDE_DO_NOT_CALL": "true" if exclude else "false",
            "TROVA_WEBHOOK_ALLOW_HTTP": "true",
            "TROVA_WEBHOOK_ALLOW_PRIVATE": "true",
        }
        down = stack.enter_context(deployment(tmp_path / "server", env))
        key = down.create_account("user", credits=1_000)
        with Client(key, down.base_url) as client:
            single = client.find(linkedin("ada"), webhook=hook.url)
            result = client.wait(single.id, timeout_s=60, poll_interval_s=0.1)
            bulk = client.submit_bulk([linkedin("ada"), linkedin("bob")])
            done = client.wait_bulk(bulk.id, timeout_s=60, poll_interval_s=0.1)
            credits = client.account().credits
        event = json.loads(wait_for(lambda: hook.requests, what="webhook")[0].body)
    bulk_flags = [(r.raw.get("qualification"), r.raw.get("do_not_call")) for r in done.results]
    if exclude:
        assert (result.raw["qualification"], "do_not_call" in result.raw) == ("not_found", False)
        assert bulk_flags == [("not_found", None), ("found", False)]
        assert credits == 1_000 - 40
    else:
        assert (result.raw["qualification"], result.raw["do_not_call"]) == ("found", True)
        assert bulk_flags == [("found", True), ("found", False)]
        assert credits == 1_000 - 40 - 2 * 40
    assert event["result"] == result.raw
