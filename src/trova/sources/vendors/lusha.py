"""Lusha (``kind = "lusha"``).

Written from Lusha's public Person API v2 documentation (https://docs.lusha.com/apis/openapi/
enrichment/searchsinglecontact, https://docs.lusha.com/tutorials/person-api-v1-deprecation and the
status codes of https://www.lusha.com/docs/); the ``contact`` envelope is as public integrations of
v2 read it: ``GET /v2/person`` with the
``api_key`` header and ``linkedinUrl``, or ``firstName`` + ``lastName`` + ``companyDomain``/
``companyName``. The answer is ``{"contact": {"error": …, "isCreditCharged": …, "data": {…,
"phoneNumbers": [{"number", "phoneType", "doNotCall", …}]}}}``: a reveal is billed only when
``isCreditCharged``. 401/403: the key or account is refused; 402: no credits; 404: no such person;
429: the rate limit.

``doNotCall`` is carried to the result's ``do_not_call`` and ``phoneType`` refines the line type.
"""

from __future__ import annotations

from typing import Any

from trova.people.models import Search
from trova.sources.config import LushaOptions
from trova.sources.models import SourceKind
from trova.sources.vendor import Reply, VendorPhone, VendorRequest, by_status, text


class LushaAdapter:
    kind: SourceKind = "lusha"
    reset_headers: tuple[str, ...] = ()

    def __init__(self, options: LushaOptions) -> None:
        self.options = options

    def headers(self, api_key: str) -> dict[str, str]:
        return {"api_key": api_key}

    def request(self, search: Search) -> VendorRequest | None:
        params: dict[str, str] = {}
        if search.linkedin_key:
            params["linkedinUrl"] = f"https://www.linkedin.com/in/{search.linkedin_key}"
        elif search.first_key and search.last_key and (search.company_domain or search.company_key):
            params["firstName"] = search.first_key
            params["lastName"] = search.last_key
            if search.company_domain:
                params["companyDomain"] = search.company_domain
            else:
                params["companyName"] = search.company_key or ""
        else:
            return None
        return VendorRequest("GET", "/v2/person", params)

    def parse(self, status: int, body: Any) -> Reply:
        known = by_status(status)
        if known is not None:
            return known
        contact = body.get("contact") if isinstance(body, dict) else None
        if status != 200 or not isinstance(contact, dict):
            return Reply("malformed", detail=f"HTTP {status}: no contact")
        billed = contact.get("isCreditCharged") is True
        data = contact.get("data")
        if contact.get("error") or not isinstance(data, dict):
            return Reply("no_match", billed=billed)
        phones = []
        for entry in data.get("phoneNumbers") or []:
            if not isinstance(entry, dict):
                continue
            number = text(entry.get("number") or entry.get("internationalNumber"))
            if number is None:
                continue
            dnc = entry.get("doNotCall")
            phones.append(
                VendorPhone(number, text(entry.get("phoneType")), dnc if isinstance(dnc, bool) else None)
            )
        if not phones:
            return Reply("no_match", billed=billed)
        return Reply("found", tuple(phones), billed=billed, request_id=text(data.get("id")))
