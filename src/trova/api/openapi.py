"""The OpenAPI document: what the server accepts and answers, exactly enough for a fuzzer.

FastAPI builds the document from the routes; this module adds what hand-parsed bodies cannot
declare: the request schemas (a search needs a LinkedIn profile URL, or a first and last name and a
company; text never holds control characters), the real 200 schemas of the service endpoints, and
the API-key security scheme. A response schema FastAPI marks ``"type": "string"`` beside a
``$ref`` (its default for a response class that is not its own JSON class) loses the ``type``.

The request schemas describe the plain forms the server always accepts (``linkedin.com/in/<name>``
URLs, names and companies with at least one letter or digit, domains like ``acme.com``). The server
is more lenient than that (every alias of docs/api.md §4, any LinkedIn subdomain, names in any
script), so a body outside the schema is not always refused.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from trova.api import schemas

LINKEDIN_URL = {
    "type": "string",
    "pattern": r"^https://www\.linkedin\.com/in/[a-z0-9][a-z0-9-]{1,40}/?$",
    "description": "A LinkedIn profile URL (any scheme, case or linkedin.com subdomain is also read).",
}
NAME = {"type": "string", "pattern": r"^[A-Za-z][A-Za-z' -]{0,40}[A-Za-z]$"}
FULL_NAME = {"type": "string", "pattern": r"^[A-Z][a-z]{1,20} [A-Z][a-z]{1,20}$"}
DOMAIN = {"type": "string", "pattern": r"^[a-z][a-z0-9-]{1,30}\.(com|org|net|io|fr|de|it)$"}
COMPANY = {"type": "string", "pattern": r"^[A-Z][a-z]{2,20}( [A-Z][a-z]{2,20})?$"}
WEBHOOK = {
    "anyOf": [
        {"type": "string", "pattern": r"^https://[a-z][a-z0-9-]{0,30}(\.[a-z][a-z0-9-]{0,30})+(/[A-Za-z0-9._~-]*)*$"},
        {"type": "null"},
        {"const": ""},
    ],
    "description": "An absolute https URL notified when the search finishes.",
}
ANY: dict[str, Any] = {"$ref": "#/components/schemas/Custom"}
CUSTOM: dict[str, Any] = {
    "description": "Any JSON value, echoed back unchanged: at most 64 levels deep, integers within 64 bits.",
    "anyOf": [
        {"type": ["null", "boolean", "string"]},
        {"type": "number", "minimum": -(2**63), "maximum": 2**64 - 1},
        {"type": "array", "items": ANY},
        {"type": "object", "additionalProperties": ANY},
    ],
}

_FIRST, _LAST, _FULL = ("firstname", "first_name"), ("lastname", "last_name"), ("fullname", "full_name")
_COMPANY = {"company_domain": DOMAIN, "company_name": COMPANY}


def _identifications() -> list[dict[str, Any]]:
    """Each way a search identifies a person: a profile URL, first + last + company, full + company."""
    by_url = {"required": ["linkedin_url"], "properties": {"linkedin_url": LINKEDIN_URL}}
    ways: list[dict[str, Any]] = [by_url]
    for company, company_schema in _COMPANY.items():
        ways.append({"required": ["first_name", "last_name", company],
                     "properties": {"first_name": NAME, "last_name": NAME, company: company_schema}})
        ways.append({"required": ["full_name", company],
                     "properties": {"full_name": FULL_NAME, company: company_schema}})
    return ways


def search_schema(*, single: bool) -> dict[str, Any]:
    """One search (the body of POST /phone/single when ``single``, with its ``settings``)."""
    properties: dict[str, Any] = {"linkedin_url": LINKEDIN_URL, "first_name": NAME, "last_name": NAME,
                                  "full_name": FULL_NAME, **_COMPANY, "custom": ANY}
    properties.update({_FIRST[0]: NAME, _LAST[0]: NAME, _FULL[0]: FULL_NAME})
    if single:
        properties["settings"] = _settings_schema()
    return {"type": "object", "properties": properties, "anyOf": _identifications(),
            "additionalProperties": ANY}


def _settings_schema() -> dict[str, Any]:
    return {"anyOf": [{"type": "object", "properties": {"webhook": WEBHOOK}, "additionalProperties": ANY},
                      {"type": "null"}]}


def bulk_schema(max_searches: int) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["searches"],
        "properties": {
            "searches": {"type": "array", "minItems": 1, "maxItems": max_searches,
                         "items": {"$ref": "#/components/schemas/SearchIn"}},
            "custom": ANY,
            "settings": _settings_schema(),
        },
        "additionalProperties": ANY,
    }


def _drop_string_beside_ref(node: Any) -> None:
    if isinstance(node, dict):
        if "$ref" in node and node.get("type") == "string":
            del node["type"]
        for value in node.values():
            _drop_string_beside_ref(value)
    elif isinstance(node, list):
        for value in node:
            _drop_string_beside_ref(value)


def install(app: FastAPI, max_searches: int) -> None:
    """Give ``app`` the document described in the module docstring (built once, on first use)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = document.setdefault("components", {})
        found = components.setdefault("schemas", {})
        found.update(schemas.component_schemas(schemas.Health, schemas.Readiness, schemas.AccountInfo))
        found["Custom"] = CUSTOM
        found["SearchIn"] = search_schema(single=False)
        found["SingleIn"] = search_schema(single=True)
        found["BulkIn"] = bulk_schema(max_searches)
        components["securitySchemes"] = {"apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}}
        for path, operations in document.get("paths", {}).items():
            if path.startswith(("/phone", "/account")):
                for operation in operations.values():
                    operation["security"] = [{"apiKey": []}]
        _drop_string_beside_ref(document)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
