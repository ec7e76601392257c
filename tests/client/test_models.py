"""Parsing the Enrow phone contract: every field kept, unknown ones ignored, nothing optional required."""

from __future__ import annotations

import pytest

from trova.client.models import MalformedResponse, parse_account, parse_bulk, parse_result, parse_submission


def test_a_found_single_result_with_extra_fields() -> None:
    body = {
        "id": "s-1",
        "params": {"linkedin_url": "x"},
        "custom": {"crm": 7},
        "number": "+15705551234",
        "country": "US",
        "qualification": "found",
        "line_type": "mobile",
        "sources": ["crm"],
        "new": 1,
    }
    result = parse_result(body)
    assert (result.id, result.qualification, result.number, result.country) == (
        "s-1",
        "found",
        "+15705551234",
        "US",
    )
    assert (
        result.line_type == "mobile"
        and result.custom == {"crm": 7}
        and result.params == {"linkedin_url": "x"}
    )
    assert result.found and result.done and result.raw is body


def test_ongoing_and_not_found_results() -> None:
    ongoing = parse_result({"id": "s-1", "qualification": "ongoing", "params": {}})
    assert not ongoing.done and not ongoing.found
    missing = parse_result({"id": "s-1", "qualification": "not_found"})
    assert missing.done and (missing.number, missing.country, missing.custom) == (None, None, None)


def test_found_without_a_number_is_not_reported_as_found() -> None:
    assert parse_result({"qualification": "found"}).qualification == "not_found"


def test_submission_with_credit_split() -> None:
    body = {
        "message": "Bulk search operating",
        "id": "b-1",
        "credits_used": 120,
        "estimated_duration": 3,
        "credits": {"amount": 120, "source": "paygo", "split": {"fromSub": 20, "fromPaygo": 100}},
    }
    submission = parse_submission(body)
    assert (submission.id, submission.credits_used, submission.estimated_duration_min) == ("b-1", 120, 3)
    assert submission.credits is not None
    assert (submission.credits.source, submission.credits.from_sub, submission.credits.from_paygo) == (
        "paygo",
        20,
        100,
    )


def test_submission_without_an_id_is_malformed() -> None:
    with pytest.raises(MalformedResponse):
        parse_submission({"message": "Single search operating"})


def test_completed_bulk_results_come_in_index_order() -> None:
    body = {
        "general": {"id": "b-1", "status": "completed", "custom": {"run": 1}},
        "stats": {
            "requested": 2,
            "finished": 2,
            "found": 1,
            "valid": 1,
            "credits_cost": 40,
            "credits_to_refund": 40,
        },
        "results": [
            {"index": 1, "qualification": "not_found", "params": {}},
            {"index": 0, "qualification": "found", "number": "+33612345678", "country": "FR"},
        ],
    }
    bulk = parse_bulk(body)
    assert bulk.done and bulk.status == "completed" and bulk.custom == {"run": 1}
    assert [r.index for r in bulk.results] == [0, 1]
    assert (bulk.stats.found, bulk.stats.credits_cost, bulk.stats.credits_to_refund) == (1, 40, 40)


def test_running_bulk_has_progress_and_no_results() -> None:
    bulk = parse_bulk(
        {"general": {"id": "b-1", "status": "ongoing"}, "stats": {"requested": 50, "finished": 12}}
    )
    assert not bulk.done and bulk.results == () and (bulk.stats.requested, bulk.stats.finished) == (50, 12)


def test_account_info_with_and_without_the_trova_extension() -> None:
    enrow = parse_account({"credits": 36000, "webhooks": ["https://h.example/x"]})
    assert (enrow.credits, enrow.webhooks, enrow.credits_sub) == (36000, ("https://h.example/x",), None)
    trova = parse_account({"credits": 10, "webhooks": [], "credits_detail": {"sub": 4, "paygo": 6}})
    assert (trova.credits_sub, trova.credits_paygo) == (4, 6)
    with pytest.raises(MalformedResponse):
        parse_account({"webhooks": []})
