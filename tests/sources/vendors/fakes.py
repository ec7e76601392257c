"""Loopback fakes of the data vendors, each speaking its vendor's documented wire format.

Every fake holds ``people`` (a LinkedIn slug or a last name -> the phones the vendor knows), checks
the vendor's authentication header against ``key``, spends one of ``credits`` per billed answer (then
answers the vendor's "out of credits"), and inherits the generic knobs of ``tests.sources.provider``
(``behaviour.status`` with ``retry_after``, ``delay_s``, ``fail_first``). ``malformed`` makes it
answer a body that is not the documented shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.sources.provider import Received, _Server

Answer = tuple[int, Any, dict[str, str]]


@dataclass(frozen=True)
class Phone:
    number: str
    kind: str = "mobile"
    do_not_call: bool = False
    masked: bool = False


class FakeVendor(_Server):
    key_header = ""
    key_prefix = ""

    def __init__(self, key: str = "test-key") -> None:
        super().__init__()
        self.key = key
        self.people: dict[str, list[Phone]] = {}
        self.credits: int | None = None
        self.malformed = False
        self.billed = 0
        self.throttle = 0
        """Answer the next N requests 429 with ``Retry-After: 0``."""

    def header(self, received: Received, name: str) -> str:
        return {k.lower(): v for k, v in received.headers.items()}.get(name.lower(), "")

    def ok(self, received: Received) -> Answer:
        if self.throttle > 0:
            self.throttle -= 1
            return 429, {"message": "Too many requests"}, {"Retry-After": "0"}
        if self.header(received, self.key_header) != self.key_prefix + self.key:
            return self.refused()
        if self.credits is not None and self.credits <= 0:
            return self.no_credits()
        if self.malformed:
            return 200, "<html>maintenance</html>", {}
        who = self.who(received)
        phones = self.people.get(who or "")
        if phones is None:
            return self.no_match()
        status, body, billed = self.found(phones)
        if billed:
            self.billed += 1
            if self.credits is not None:
                self.credits -= 1
        return status, body, {}

    def who(self, received: Received) -> str | None:
        raise NotImplementedError

    def refused(self) -> Answer:
        return 401, {"message": "Unauthorized"}, {}

    def no_credits(self) -> Answer:
        return 402, {"message": "Payment required"}, {}

    def no_match(self) -> Answer:
        return 404, {"message": "Not found"}, {}

    def found(self, phones: list[Phone]) -> tuple[int, Any, bool]:
        raise NotImplementedError


def _slug(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


class FakePdl(FakeVendor):
    """GET /v5/person/enrich, X-Api-Key; 200 billed, 404 free."""

    key_header = "X-Api-Key"

    def who(self, received: Received) -> str | None:
        query = {k: v[0] for k, v in received.query.items()}
        if received.path != "/v5/person/enrich" or received.method != "GET":
            return None
        return _slug(query["profile"]) if "profile" in query else query.get("last_name")

    def refused(self) -> Answer:
        return 401, {"status": 401, "error": {"type": "invalid_auth", "message": "Invalid API Key"}}, {}

    def no_credits(self) -> Answer:
        error = {"type": "payment_required", "message": "You have hit your account maximum"}
        return 402, {"status": 402, "error": error}, {}

    def no_match(self) -> Answer:
        error = {"type": "not_found", "message": "No records were found matching your request"}
        return 404, {"status": 404, "error": error}, {}

    def found(self, phones: list[Phone]) -> tuple[int, Any, bool]:
        mobile = next((p.number for p in phones if p.kind == "mobile"), None)
        data = {"id": "pdl-1", "mobile_phone": mobile, "phone_numbers": [p.number for p in phones]}
        return 200, {"status": 200, "likelihood": 8, "data": data}, True


class FakeProspeo(FakeVendor):
    """POST /enrich-person, X-KEY; errors are 400 with ``error_code``."""

    key_header = "X-KEY"

    def who(self, received: Received) -> str | None:
        data = (received.body or {}).get("data", {})
        if received.path != "/enrich-person" or received.method != "POST":
            return None
        return _slug(data["linkedin_url"]) if "linkedin_url" in data else data.get("last_name")

    def _error(self, status: int, code: str) -> Answer:
        return status, {"error": True, "error_code": code}, {}

    def refused(self) -> Answer:
        return self._error(401, "INVALID_API_KEY")

    def no_credits(self) -> Answer:
        return self._error(400, "INSUFFICIENT_CREDITS")

    def no_match(self) -> Answer:
        return self._error(400, "NO_MATCH")

    def found(self, phones: list[Phone]) -> tuple[int, Any, bool]:
        phone = phones[0]
        mobile = {
            "status": "VERIFIED",
            "revealed": not phone.masked,
            "mobile": "+33 6 ** ** ** **" if phone.masked else phone.number,
        }
        person = {"person_id": "pp-1", "mobile": mobile}
        return 200, {"error": False, "free_enrichment": False, "person": person}, not phone.masked


class FakeLusha(FakeVendor):
    """GET /v2/person, api_key; ``contact.isCreditCharged``."""

    key_header = "api_key"

    def who(self, received: Received) -> str | None:
        query = {k: v[0] for k, v in received.query.items()}
        if received.path != "/v2/person" or received.method != "GET":
            return None
        return _slug(query["linkedinUrl"]) if "linkedinUrl" in query else query.get("lastName")

    def refused(self) -> Answer:
        return 401, {"message": "Invalid API key"}, {}

    def no_credits(self) -> Answer:
        return 402, {"message": "You have exceeded your credit limit"}, {}

    def no_match(self) -> Answer:
        return 200, {"contact": {"error": {"code": 3, "name": "EMPTY_DATA"}, "isCreditCharged": False}}, {}

    def found(self, phones: list[Phone]) -> tuple[int, Any, bool]:
        numbers = [{"number": p.number, "phoneType": p.kind, "doNotCall": p.do_not_call} for p in phones]
        contact = {"error": None, "isCreditCharged": True, "data": {"id": "l-1", "phoneNumbers": numbers}}
        return 200, {"contact": contact}, True


class FakeKaspr(FakeVendor):
    """POST /profile/linkedin, ``authorization: Bearer``, ``accept-version``."""

    key_header = "authorization"
    key_prefix = "Bearer "

    def who(self, received: Received) -> str | None:
        if received.path != "/profile/linkedin" or self.header(received, "accept-version") != "v2.0":
            return None
        return str((received.body or {}).get("id") or "")

    def no_credits(self) -> Answer:
        return 200, {"message": "No credits left"}, {}

    def no_match(self) -> Answer:
        return 404, {"message": "Profile not found"}, {}

    def found(self, phones: list[Phone]) -> tuple[int, Any, bool]:
        profile = {"id": "k-1", "starryPhone": phones[0].number, "phones": [p.number for p in phones]}
        return 200, {"profile": profile}, True


FAKES: dict[str, type[FakeVendor]] = {
    "pdl": FakePdl,
    "prospeo": FakeProspeo,
    "lusha": FakeLusha,
    "kaspr": FakeKaspr,
}
