"""Typed results of the Enrow phone contract, parsed tolerantly.

Parsing keeps every field of the contract, ignores fields it does not know (Enrow or a newer Trova may
add some) and never fails on a missing optional one; ``raw`` keeps the body as the server sent it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Qualification = Literal["ongoing", "found", "not_found"]
BulkStatus = Literal["ongoing", "completed", "failed"]
Json = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Credits:
    """Where the reserved credits came from (``source`` is ``sub`` or ``paygo``)."""

    amount: int
    source: str | None
    from_sub: int | None
    from_paygo: int | None


@dataclass(frozen=True, slots=True)
class Submission:
    """The answer to POST /phone/single or POST /phone/bulk: the id to poll and what was reserved."""

    id: str
    message: str
    credits_used: int
    credits: Credits | None
    estimated_duration_min: int | None = None


@dataclass(frozen=True, slots=True)
class PhoneResult:
    """One search's result, from GET /phone/single or one entry of a finished batch.

    ``line_type`` is a Trova extension (``None`` against Enrow); ``index`` is set for batch results.
    """

    qualification: Qualification
    id: str | None = None
    index: int | None = None
    number: str | None = None
    country: str | None = None
    line_type: str | None = None
    sources: tuple[str, ...] = ()
    """Trova extension: the names of the sources that reported the number (empty against Enrow)."""
    last_seen: str | None = None
    """Trova extension: the date (YYYY-MM-DD) the number was last observed."""
    params: Json = field(default_factory=dict, compare=False)
    custom: Any = None
    raw: Json = field(default_factory=dict, compare=False, repr=False)

    @property
    def done(self) -> bool:
        return self.qualification != "ongoing"

    @property
    def found(self) -> bool:
        return self.qualification == "found" and self.number is not None


@dataclass(frozen=True, slots=True)
class BulkStats:
    """Progress and, once completed, the final charge of a batch."""

    requested: int
    finished: int
    found: int | None = None
    valid: int | None = None
    credits_cost: int | None = None
    credits_to_refund: int | None = None


@dataclass(frozen=True, slots=True)
class Bulk:
    """GET /phone/bulk: a batch, with ``results`` in index order once it is completed."""

    id: str
    status: BulkStatus
    stats: BulkStats
    custom: Any = None
    results: tuple[PhoneResult, ...] = ()
    raw: Json = field(default_factory=dict, compare=False, repr=False)

    @property
    def done(self) -> bool:
        return self.status != "ongoing"


@dataclass(frozen=True, slots=True)
class AccountInfo:
    """GET /account/info; ``credits_sub``/``credits_paygo`` are Trova's extension (``None`` on Enrow)."""

    credits: int
    webhooks: tuple[str, ...] = ()
    credits_sub: int | None = None
    credits_paygo: int | None = None


class MalformedResponse(ValueError):
    """A 2xx body that does not have the shape of the contract."""


def _int(value: Any, default: int | None = None) -> int | None:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return default


def _required_int(body: Json, key: str) -> int:
    value = _int(body.get(key))
    if value is None:
        raise MalformedResponse(f"missing integer field {key!r}")
    return value


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _object(value: Any) -> Json:
    return value if isinstance(value, Mapping) else {}


def _required_id(body: Json) -> str:
    value = body.get("id")
    if isinstance(value, int | str) and not isinstance(value, bool) and str(value):
        return str(value)
    raise MalformedResponse("missing field 'id'")


def parse_credits(value: Any) -> Credits | None:
    body = _object(value)
    amount = _int(body.get("amount"))
    if amount is None:
        return None
    split = _object(body.get("split"))
    return Credits(amount, _str(body.get("source")), _int(split.get("fromSub")), _int(split.get("fromPaygo")))


def parse_submission(body: Json) -> Submission:
    return Submission(
        id=_required_id(body),
        message=_str(body.get("message")) or "",
        credits_used=_int(body.get("credits_used"), 0) or 0,
        credits=parse_credits(body.get("credits")),
        estimated_duration_min=_int(body.get("estimated_duration")),
    )


def _qualification(value: Any) -> Qualification:
    if value == "found":
        return "found"
    if value in ("not_found", "notfound", "not found"):
        return "not_found"
    if value in (None, "ongoing", "pending", "running"):
        return "ongoing"
    return "not_found"


def _strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(str(item) for item in value if isinstance(item, str | int))


def parse_result(body: Json) -> PhoneResult:
    number = _str(body.get("number"))
    qualification = _qualification(body.get("qualification"))
    if qualification == "found" and number is None:
        qualification = "not_found"
    return PhoneResult(
        qualification=qualification,
        id=_str(body.get("id")),
        index=_int(body.get("index")),
        number=number,
        country=_str(body.get("country")),
        line_type=_str(body.get("line_type")),
        sources=_strings(body.get("sources")),
        last_seen=_str(body.get("last_seen")),
        params=_object(body.get("params")),
        custom=body.get("custom"),
        raw=body,
    )


def _bulk_status(value: Any) -> BulkStatus:
    if value in ("completed", "finished", "done"):
        return "completed"
    if value == "failed":
        return "failed"
    return "ongoing"


def parse_bulk(body: Json) -> Bulk:
    general = _object(body.get("general"))
    stats = _object(body.get("stats"))
    raw_results = body.get("results")
    results = tuple(
        parse_result(item) for item in (raw_results if isinstance(raw_results, list) else ())
        if isinstance(item, Mapping)
    )
    return Bulk(
        id=_required_id(general),
        status=_bulk_status(general.get("status")),
        stats=BulkStats(
            requested=_int(stats.get("requested"), 0) or 0,
            finished=_int(stats.get("finished"), 0) or 0,
            found=_int(stats.get("found")),
            valid=_int(stats.get("valid")),
            credits_cost=_int(stats.get("credits_cost")),
            credits_to_refund=_int(stats.get("credits_to_refund")),
        ),
        custom=general.get("custom"),
        results=tuple(sorted(results, key=lambda r: -1 if r.index is None else r.index)),
        raw=body,
    )


def parse_account(body: Json) -> AccountInfo:
    hooks = body.get("webhooks")
    detail = _object(body.get("credits_detail"))
    return AccountInfo(
        credits=_required_int(body, "credits"),
        webhooks=tuple(h for h in (hooks if isinstance(hooks, list) else ()) if isinstance(h, str)),
        credits_sub=_int(detail.get("sub")),
        credits_paygo=_int(detail.get("paygo")),
    )
