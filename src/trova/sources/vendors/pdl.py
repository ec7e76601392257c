"""People Data Labs (``kind = "pdl"``).

Written from PDL's public documentation of the Person Enrichment API
(https://docs.peopledatalabs.com/docs/enrichment-api-deprecated.md: 200 billed per match, 404 free;
https://docs.peopledatalabs.com/docs/usage-limits: 429 and its headers).

``GET /v5/person/enrich`` with the ``X-Api-Key`` header and the person as query parameters
(``profile``, or ``first_name`` + ``last_name`` + ``company``), a
``min_likelihood`` floor and ``required``; 200 with ``likelihood`` and ``data`` (``mobile_phone``,
``phone_numbers[]``) for a match, which is billed; 404 for none, which is free. 401/403: the key is
refused; 402: the credits are spent; 429: the rate limit (its ``Retry-After`` is honoured).

We ask with ``required=phone_numbers``, so a person PDL knows without any number is a free 404
rather than a billed match with nothing we can use.
"""

from __future__ import annotations

from typing import Any

from trova.people.models import Search
from trova.sources.config import PdlOptions
from trova.sources.models import SourceKind
from trova.sources.vendor import Reply, VendorPhone, VendorRequest, by_status, text


class PdlAdapter:
    kind: SourceKind = "pdl"
    reset_headers: tuple[str, ...] = ()

    def __init__(self, options: PdlOptions) -> None:
        self.options = options

    def headers(self, api_key: str) -> dict[str, str]:
        return {"X-Api-Key": api_key, "Accept": "application/json"}

    def request(self, search: Search) -> VendorRequest | None:
        params = {"min_likelihood": str(self.options.min_likelihood), "required": "phone_numbers"}
        if search.linkedin_key:
            params["profile"] = f"linkedin.com/in/{search.linkedin_key}"
        elif search.first_key and search.last_key and (search.company_domain or search.company_key):
            params["first_name"] = search.first_key
            params["last_name"] = search.last_key
            params["company"] = search.company_domain or search.company_key or ""
        else:
            return None
        return VendorRequest("GET", "/v5/person/enrich", params)

    def parse(self, status: int, body: Any) -> Reply:
        error = body.get("error") if isinstance(body, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        known = by_status(status, f"HTTP {status}: {message}" if message and status != 404 else "")
        if known is not None:
            return known
        if status != 200 or not isinstance(body, dict) or not isinstance(body.get("data"), dict):
            return Reply("malformed", detail=f"HTTP {status}: no data")
        data = body["data"]
        likelihood = body.get("likelihood")
        confidence = likelihood / 10 if isinstance(likelihood, int | float) else None
        phones: dict[str, VendorPhone] = {}
        mobile = text(data.get("mobile_phone"))
        if mobile:
            phones[mobile] = VendorPhone(mobile, "mobile", None, confidence)
        for value in data.get("phone_numbers") or []:
            number = text(value)
            if number and number not in phones:
                phones[number] = VendorPhone(number, None, None, confidence)
        if not phones:
            return Reply("no_match", billed=True, detail="match without a number")
        return Reply("found", tuple(phones.values()), billed=True, request_id=text(data.get("id")))
