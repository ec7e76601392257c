"""Prospeo (``kind = "prospeo"``).

Written from Prospeo's public API documentation (https://prospeo.io/api-docs/enrich-person,
/api-docs/authentication, /api-docs/person-object and the error codes of /mcp-docs/errors).

``POST /enrich-person`` with the ``X-KEY`` header and ``{"enrich_mobile": true,
"only_verified_mobile": true, "data": {…}}`` where ``data`` holds
``linkedin_url``, or ``first_name`` + ``last_name`` + ``company_website``/``company_name``. A
match answers 200 ``{"error": false, "free_enrichment": …, "person": {"mobile": {"status",
"revealed", "mobile", …}}}``; a record enriched before is free (``free_enrichment``). Errors come as
``{"error": true, "error_code": …}``: ``NO_MATCH`` (free), ``INVALID_DATAPOINTS``,
``INSUFFICIENT_CREDITS``, ``INVALID_API_KEY`` (401), ``ACCOUNT_RESTRICTED``, ``RATE_LIMITED``
(429; ``x-minute-reset-seconds`` says when to come back).

``only_verified_mobile`` makes Prospeo answer ``NO_MATCH`` (free) for a person without a verified
mobile; a mobile that is not ``revealed`` or not ``VERIFIED`` is ``masked``: never a find.
"""

from __future__ import annotations

from typing import Any

from trova.people.models import Search
from trova.sources.config import ProspeoOptions
from trova.sources.models import SourceKind
from trova.sources.vendor import Reply, VendorPhone, VendorRequest, text

_ERRORS: dict[str, Reply] = {
    "NO_MATCH": Reply("no_match"),
    "INVALID_DATAPOINTS": Reply("no_match", detail="not enough to identify the person"),
    "INSUFFICIENT_CREDITS": Reply("no_credits", detail="INSUFFICIENT_CREDITS"),
    "INVALID_API_KEY": Reply("bad_key", detail="INVALID_API_KEY: the key was refused"),
    "ACCOUNT_RESTRICTED": Reply("bad_key", detail="ACCOUNT_RESTRICTED: the account is restricted"),
    "RATE_LIMITED": Reply("rate_limited", detail="RATE_LIMITED"),
    "RATE_LIMIT_EXCEEDED": Reply("rate_limited", detail="RATE_LIMIT_EXCEEDED"),
}


class ProspeoAdapter:
    kind: SourceKind = "prospeo"
    reset_headers: tuple[str, ...] = ("x-minute-reset-seconds",)

    def __init__(self, options: ProspeoOptions) -> None:
        self.options = options

    def headers(self, api_key: str) -> dict[str, str]:
        return {"X-KEY": api_key}

    def request(self, search: Search) -> VendorRequest | None:
        data: dict[str, str] = {}
        if search.linkedin_key:
            data["linkedin_url"] = f"https://www.linkedin.com/in/{search.linkedin_key}"
        if search.first_key and search.last_key and (search.company_domain or search.company_key):
            data["first_name"] = search.first_key
            data["last_name"] = search.last_key
            if search.company_domain:
                data["company_website"] = search.company_domain
            else:
                data["company_name"] = search.company_key or ""
        if not data:
            return None
        body = {"enrich_mobile": True, "only_verified_mobile": True, "data": data}
        return VendorRequest("POST", "/enrich-person", json=body)

    def parse(self, status: int, body: Any) -> Reply:
        if not isinstance(body, dict):
            return Reply("malformed", detail=f"HTTP {status}: not an object")
        if body.get("error") is True or status != 200:
            code = text(body.get("error_code")) or ""
            if code in _ERRORS:
                return _ERRORS[code]
            if status == 401:
                return Reply("bad_key", detail="HTTP 401: the key was refused")
            return Reply("error", detail=f"HTTP {status}: {code or 'error'}")
        person = body.get("person")
        if not isinstance(person, dict):
            return Reply("malformed", detail="HTTP 200 without a person")
        mobile = person.get("mobile")
        billed = body.get("free_enrichment") is not True
        if not isinstance(mobile, dict):
            return Reply("no_match", billed=billed)
        number = text(mobile.get("mobile"))
        verified = str(mobile.get("status") or "").upper() == "VERIFIED"
        if number is None or mobile.get("revealed") is not True or not verified or "*" in number:
            return Reply("masked", detail="mobile not revealed or not verified")
        phone = VendorPhone(number, "mobile", None, 1.0 if verified else None)
        return Reply("found", (phone,), billed=billed, request_id=text(person.get("person_id")))
