"""The JSON of one search result, as the single-search webhook event carries it.

This is the one piece of wire format the batches domain writes itself: the job step queues the
``single_phone_search_finished`` event (its ``result`` is the body of GET /phone/single) in the
outbox, in the transaction that records the result, so the shape lives here, below both the job
step and the HTTP API, which builds its bodies around it (``trova.api.bodies``).
"""

from __future__ import annotations

from typing import Any

from trova.batches.models import SearchRow


def result_fields(row: SearchRow) -> dict[str, Any]:
    """``params``, ``custom`` (only if sent), ``qualification`` and, when found, the number fields
    (with the extensions ``line_type``, ``sources`` — the sources that reported the number —,
    ``last_seen`` and ``do_not_call`` when a source said). A found result whose number was since
    erased reads as ``not_found``: a client never sees ``found`` without a number."""
    body: dict[str, Any] = {"params": row.params}
    if row.has_custom:
        body["custom"] = row.custom
    if row.status != "done":
        body["qualification"] = "ongoing"
        return body
    if row.qualification != "found" or row.number is None:
        body["qualification"] = "not_found"
        return body
    body["qualification"] = "found"
    body["number"] = row.number
    body["country"] = row.country
    if row.line_type:
        body["line_type"] = row.line_type
    if row.source_names:
        body["sources"] = list(row.source_names)
    if row.last_seen:
        body["last_seen"] = row.last_seen
    if row.do_not_call is not None:
        body["do_not_call"] = row.do_not_call
    return body


def single_result(row: SearchRow) -> dict[str, Any]:
    """A single search's result: the body of GET /phone/single and the webhook event's ``result``."""
    return {"id": row.id, **result_fields(row)}
