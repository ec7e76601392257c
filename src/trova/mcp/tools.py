"""What each MCP tool does, on a :class:`trova.client.AsyncClient`, without anything of MCP.

Every tool returns a :class:`Reply`: the JSON object given to the agent as structured content and a
short line of text. Expected failures (the API's refusals, an unreachable server, bad arguments)
raise :class:`ToolFailure`, which the server turns into a tool error carrying the API's message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from trova.client import (
    AccountInfo,
    ApiError,
    AsyncClient,
    Bulk,
    ClientError,
    PhoneResult,
    RetryPolicy,
    Submission,
    WaitTimeout,
)

RETRY = RetryPolicy(max_attempts=4, max_retry_after_s=30.0)
"""An agent is waiting: retry a 429 or a lost connection a few times, never for minutes."""

"""Trova's extension: why a search got its answer (absent on Enrow, which answers 404)."""

SEARCH_FIELDS = ("linkedin_url", "first_name", "last_name", "company_domain", "company_name")
WIRE_NAMES = {"first_name": "firstname", "last_name": "lastname"}
"""Enrow's MCP takes ``first_name``/``last_name`` and sends the API's ``firstname``/``lastname``
(which Trova reads too), so the same arguments work against either server."""


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    data: dict[str, Any]


class ToolFailure(Exception):
    """An expected failure: ``message`` is shown to the agent (the API's own text when it has one)."""

    def __init__(
        self, message: str, status: int | None = None, extra: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.extra = dict(extra or {})

    @property
    def text(self) -> str:
        return f"{self.message} (HTTP {self.status})" if self.status is not None else self.message

    @property
    def data(self) -> dict[str, Any]:
        return {"message": self.message, "status": self.status, **self.extra}


def failure_of(exc: ClientError) -> ToolFailure:
    if isinstance(exc, ApiError):
        return ToolFailure(exc.message, exc.status)
    return ToolFailure(str(exc))


def wire_search(search: Mapping[str, Any]) -> dict[str, Any]:
    """One search as the API reads it: blank fields dropped, names under the API's field names."""
    body: dict[str, Any] = {}
    for field in SEARCH_FIELDS:
        value = search.get(field)
        if isinstance(value, str) and value.strip():
            body[WIRE_NAMES.get(field, field)] = value.strip()
    return body


def submission_data(submission: Submission) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": submission.id,
        "message": submission.message,
        "credits_used": submission.credits_used,
    }
    if submission.credits is not None:
        data["credits"] = {
            "amount": submission.credits.amount,
            "source": submission.credits.source,
            "split": {"fromSub": submission.credits.from_sub, "fromPaygo": submission.credits.from_paygo},
        }
    if submission.estimated_duration_min is not None:
        data["estimated_duration"] = submission.estimated_duration_min
    return data


def result_text(result: PhoneResult) -> str:
    if result.qualification == "ongoing":
        return f"search {result.id or ''} still running: call get_phone_result again in a few seconds".strip()
    if not result.found:
        return "not_found: no number can be justified for this person (no credits charged)"
    details = ", ".join(part for part in (result.country, result.line_type) if part)
    return f"found {result.number}" + (f" ({details})" if details else "")


def result_data(result: PhoneResult) -> dict[str, Any]:
    data = dict(result.raw)
    data.setdefault("id", result.id)
    data["qualification"] = result.qualification
    return data


def bulk_text(bulk: Bulk) -> str:
    stats = bulk.stats
    if not bulk.done:
        return (f"batch {bulk.id} {bulk.status}: {stats.finished} of {stats.requested} searches finished; "
                "call get_phones_bulk_result again later")
    found = sum(1 for result in bulk.results if result.found)
    return f"batch {bulk.id} {bulk.status}: {found} of {stats.requested} numbers found"


def account_data(info: AccountInfo) -> dict[str, Any]:
    data: dict[str, Any] = {"credits": info.credits, "webhooks": list(info.webhooks)}
    if info.credits_sub is not None or info.credits_paygo is not None:
        data["credits_detail"] = {"sub": info.credits_sub, "paygo": info.credits_paygo}
    return data


def _require_id(value: str, name: str = "id") -> str:
    value = value.strip()
    if not value:
        raise ToolFailure(f"{name} must not be empty")
    return value


async def find_phone(client: AsyncClient, search: Mapping[str, Any]) -> Reply:
    body = wire_search(search)
    try:
        submission = await client.find(body)
    except ClientError as exc:
        raise failure_of(exc) from None
    return Reply(
        f"search {submission.id} started ({submission.credits_used} credits reserved): call get_phone_result "
        "with this id",
        submission_data(submission),
    )


async def get_phone_result(client: AsyncClient, search_id: str) -> Reply:
    try:
        result = await client.get(_require_id(search_id))
    except ClientError as exc:
        raise failure_of(exc) from None
    return Reply(result_text(result), result_data(result))


async def find_phones_bulk(client: AsyncClient, searches: Sequence[Mapping[str, Any]]) -> Reply:
    try:
        submission = await client.submit_bulk([wire_search(search) for search in searches])
    except ClientError as exc:
        raise failure_of(exc) from None
    return Reply(
        f"batch {submission.id} started with {len(searches)} searches ({submission.credits_used} credits "
        "reserved): call get_phones_bulk_result with this id",
        submission_data(submission),
    )


async def get_phones_bulk_result(client: AsyncClient, bulk_id: str) -> Reply:
    try:
        bulk = await client.get_bulk(_require_id(bulk_id))
    except ClientError as exc:
        raise failure_of(exc) from None
    return Reply(bulk_text(bulk), dict(bulk.raw))


async def get_account_info(client: AsyncClient) -> Reply:
    try:
        info = await client.account()
    except ClientError as exc:
        raise failure_of(exc) from None
    return Reply(f"{info.credits} credits available", account_data(info))


async def find_phone_and_wait(client: AsyncClient, search: Mapping[str, Any], timeout_s: float) -> Reply:
    """Start one search and wait for its answer; still running after ``timeout_s`` is not an error:
    the reply says ``ongoing`` and carries the id to poll with ``get_phone_result``."""
    try:
        submission = await client.find(wire_search(search))
        try:
            result = await client.wait(submission.id, timeout_s=timeout_s, poll_interval_s=0.25)
        except WaitTimeout:
            result = await client.get(submission.id)
    except ClientError as exc:
        raise failure_of(exc) from None
    data = result_data(result)
    data["id"] = submission.id
    data["credits_used"] = submission.credits_used if result.found else 0
    if result.qualification == "ongoing":
        return Reply(f"search {submission.id} still running after {timeout_s:g} s: call get_phone_result "
                     "with this id later", data)
    return Reply(result_text(result), data)


async def explain_phone(client: AsyncClient, search_id: str) -> Reply:
    """GET /phone/single/explain, Trova's extension."""
    try:
        body = await client.explain(_require_id(search_id))
    except ClientError as exc:
        failure = failure_of(exc)
        if failure.status in (404, 405) and failure.message in ("Not found", "Method not allowed"):
            failure.message += " (explain_phone needs a Trova server: Enrow has no explanation endpoint)"
        raise failure from None
    explanation = body.get("explanation")
    rule_text = explanation.get("rule_text") if isinstance(explanation, Mapping) else None
    result = body.get("result") if isinstance(body.get("result"), Mapping) else {}
    qualification = result.get("qualification", "?") if isinstance(result, Mapping) else "?"
    return Reply(f"{qualification}: {rule_text or 'no explanation available'}", body)
