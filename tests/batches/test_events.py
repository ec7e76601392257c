"""The JSON of one search result (GET /phone/single, GET /phone/bulk items, the single webhook event)."""

from __future__ import annotations

from typing import Any

from trova.batches.events import result_fields
from trova.batches.models import SearchRow


def _done_row(**fields: Any) -> SearchRow:
    base: dict[str, Any] = dict(
        id="s1", index=0, params={"linkedin_url": "linkedin.com/in/ada"}, custom=None, has_custom=False,
        status="done", qualification="found", number="+33612345678", country="FR", line_type="mobile",
        source_names=("crm", "vendor"), last_seen="2026-10-01",
    )
    base.update(fields)
    return SearchRow(**base)


def test_a_found_result_carries_its_detail_beside_the_enrow_fields() -> None:
    body = result_fields(_done_row())
    assert body == {
        "params": {"linkedin_url": "linkedin.com/in/ada"}, "qualification": "found",
        "number": "+33612345678", "country": "FR", "line_type": "mobile",
        "sources": ["crm", "vendor"], "last_seen": "2026-10-01",
    }


def test_a_found_result_whose_number_was_erased_reads_as_not_found() -> None:
    body = result_fields(_done_row(number=None, country=None, line_type=None))
    assert body["qualification"] == "not_found"
    assert "number" not in body and "country" not in body


def test_do_not_call_is_shown_only_when_a_source_said() -> None:
    assert "do_not_call" not in result_fields(_done_row())
    assert result_fields(_done_row(do_not_call=True))["do_not_call"] is True
    assert result_fields(_done_row(do_not_call=False))["do_not_call"] is False
    assert "do_not_call" not in result_fields(_done_row(number=None, do_not_call=True))
