"""Kaspr (``kind = "kaspr"``).

Kaspr's own reference (https://kaspr.stoplight.io/docs/kaspr-api) is not in the documentation the
search tool holds; the wire format below was checked against public integrations of its v2 API that
cite it (several agree): ``POST /profile/linkedin`` with ``authorization: Bearer <key>`` and
``accept-version: v2.0`` headers and ``{"id": <LinkedIn slug, not the URL>, "name": <full name>,
"dataToGet": ["phone"], "requiredData": ["phone"]}`` — ``requiredData`` makes Kaspr answer (and
charge) only a profile that has a phone, so a profile without one is a free miss instead of a spent
credit. The answer is ``{"profile": {…, "phones": [<string>…], "starryPhone": <string>}}``
(``starryPhone``: the number Kaspr rates best), numbers written with spaces (``+1 202 007 0123``).
One phone credit is spent per profile revealed with a phone. 401/403: the key is refused; 402 (or a
200 whose only content is a "no credits" message): no credits; 404: no profile; 429: the rate limit.

Kaspr is asked by LinkedIn profile only: a search without one is not sent.
"""

from __future__ import annotations

from typing import Any

from trova.people.models import Search
from trova.sources.config import KasprOptions
from trova.sources.models import SourceKind
from trova.sources.vendor import Reply, VendorPhone, VendorRequest, by_status, text


class KasprAdapter:
    kind: SourceKind = "kaspr"
    reset_headers: tuple[str, ...] = ()

    def __init__(self, options: KasprOptions) -> None:
        self.options = options

    def headers(self, api_key: str) -> dict[str, str]:
        return {"authorization": f"Bearer {api_key}", "accept-version": self.options.accept_version}

    def request(self, search: Search) -> VendorRequest | None:
        if not search.linkedin_key:
            return None
        name = " ".join(part for part in (search.first_key, search.last_key) if part) or search.linkedin_key
        body = {"id": search.linkedin_key, "name": name, "dataToGet": ["phone"], "requiredData": ["phone"]}
        return VendorRequest("POST", "/profile/linkedin", json=body)

    def parse(self, status: int, body: Any) -> Reply:
        known = by_status(status)
        if known is not None:
            return known
        if status != 200 or not isinstance(body, dict):
            return Reply("malformed", detail=f"HTTP {status}")
        profile = body.get("profile")
        if not isinstance(profile, dict):
            message = str(body.get("message") or "")
            if "credit" in message.casefold():
                return Reply("no_credits", detail=message[:200])
            return Reply("no_match")
        best = text(profile.get("starryPhone"))
        numbers = [best] if best else []
        numbers += [
            n for n in (text(value) for value in profile.get("phones") or []) if n and n not in numbers
        ]
        if not numbers:
            return Reply("no_match")
        phones = tuple(VendorPhone(n, None, None, 1.0 if n == best else None) for n in numbers)
        return Reply("found", phones, billed=True, request_id=text(profile.get("id")))
