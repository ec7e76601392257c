"""Schemas of the HTTP API, for the OpenAPI document only, and the routes' error declarations.

Bodies are parsed by hand (raw bytes → orjson) so that every refusal carries the spec's exact text;
these models describe the Enrow shapes to readers of ``/openapi.json`` and ``/docs`` and to fuzzers.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class RequestSettings(_Open):
    webhook: str | None = Field(None, description="Absolute https URL notified when the search finishes.")


class SearchIn(_Open):
    """One search: ``linkedin_url``, or first + last name (or full name) and a company domain or name."""

    linkedin_url: str | None = None
    firstname: str | None = None
    first_name: str | None = None
    lastname: str | None = None
    last_name: str | None = None
    fullname: str | None = None
    full_name: str | None = None
    company_domain: str | None = None
    company_name: str | None = None
    custom: Any = Field(None, description="Any JSON value, echoed back unchanged.")


class SingleIn(SearchIn):
    settings: RequestSettings | None = None


class BulkIn(_Open):
    searches: list[SearchIn] = Field(..., min_length=1, max_length=3000)
    custom: Any = None
    settings: RequestSettings | None = None


class Message(BaseModel):
    message: str


class SplitOut(BaseModel):
    fromSub: int
    fromPaygo: int


class CreditsOut(BaseModel):
    amount: int
    source: Literal["sub", "paygo"]
    split: SplitOut


class SingleCreated(BaseModel):
    message: str = "Single search operating"
    id: str
    credits_used: int
    credits: CreditsOut


class BatchAliases(BaseModel):
    """Compatibility aliases read by Enrow's other clients (docs/api.md §18)."""

    batch_id: str = Field(description="= id (Go SDK)")
    batchId: str = Field(description="= id (JS SDK types, Rust crate)")
    total: int = Field(description="= stats.requested (Go SDK, Rust crate)")
    status: Literal["ongoing", "completed", "failed"] = Field(description="= general.status")


class BulkCreated(BatchAliases):
    message: str = "Bulk search operating"
    id: str
    credits_used: int
    estimated_duration: int
    credits: CreditsOut


class SingleResult(_Open):
    id: str
    params: Any
    custom: Any = None
    qualification: Literal["ongoing", "found", "not_found"]
    number: str | None = None
    country: str | None = None


class BulkGeneral(_Open):
    id: str
    status: Literal["ongoing", "completed", "failed"]
    custom: Any = None


class BulkStats(_Open):
    requested: int
    finished: int
    found: int | None = None
    valid: int | None = None
    credits_cost: int | None = None
    credits_to_refund: int | None = None


class BulkResultItem(_Open):
    index: int
    id: str = Field(description="the search's id (the Rust crate requires one on every result)")
    params: Any
    custom: Any = None
    qualification: Literal["found", "not_found"]
    number: str | None = None
    country: str | None = None


class BulkResults(BatchAliases):
    general: BulkGeneral
    stats: BulkStats
    results: list[BulkResultItem] | None = None


class Health(BaseModel):
    """GET /healthz: the process answers (its pid tells the processes of ``serve --workers`` apart)."""

    status: Literal["ok"]
    pid: int


class Readiness(BaseModel):
    """GET /readyz, 200: every check ``ok``."""

    status: Literal["ready"]
    checks: dict[str, str]


class NotReady(BaseModel):
    """GET /readyz, 503: the envelope's message and why each check failed."""

    message: str
    checks: dict[str, str]


class CreditsDetail(BaseModel):
    sub: int
    paygo: int


class AccountInfo(BaseModel):
    credits: int
    webhooks: list[str]
    credits_detail: CreditsDetail


REF_TEMPLATE = "#/components/schemas/{model}"

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": Message, "description": text}
    for status, text in (
        (400, "Bad request (spec text)"),
        (401, "Missing or invalid API key"),
        (402, "Insufficient credits"),
        (404, "Not found"),
        (409, "Idempotency-Key reused with another body"),
        (413, "Payload too large"),
        (429, "Rate limit exceeded"),
    )
}
"""The error answers an endpoint may give, all in the ``{"message": ...}`` envelope."""

ID_PARAM: dict[str, Any] = {
    "parameters": [
        {"name": "id", "in": "query", "required": True, "schema": {"type": "string", "minLength": 1}}
    ]
}
"""``openapi_extra`` declaring the ``id`` query parameter (read by hand, see ``trova.api.deps``)."""


def component_schemas(*models: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI component schemas of ``models`` and of every model they refer to."""
    schemas: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template=REF_TEMPLATE)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return schemas


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` declaring ``model`` (a component schema) as the JSON request body."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": REF_TEMPLATE.format(model=model.__name__)}}},
        }
    }


def object_answer(description: str, *required: str) -> dict[str, Any]:
    """A ``responses`` entry: a JSON object holding at least ``required``."""
    schema = {"type": "object", "required": list(required)}
    return {"description": description, "content": {"application/json": {"schema": schema}}}
