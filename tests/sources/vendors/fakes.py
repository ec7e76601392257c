"""Loopback fakes of the data vendors, each speaking its vendor's documented wire format.

Every fake holds ``people`` (a LinkedIn slug or a last name -> the phones the vendor knows), checks
the vendor's authentication header against ``key``, spends one of ``credits`` per billed answer (then
answers the vendor's "out of credits"), and inherits the generic knobs of ``tests.sources.provider``
(``behaviour.status`` with ``retry_after``, ``delay_s``, ``fail_first``). ``malformed`` makes it
answer a body that is not the documented shape.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

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
    """POST /profile/linkedin, ``authorization: Bearer``, ``accept-version: v2.0``, ``{"id": <slug>,
    "name", "dataToGet", "requiredData"}``. Numbers come spaced (``+33 6 12 …``), as Kaspr writes them.
    A profile without a phone is answered 200 without phones (an export credit spent), unless the
    request names ``phone`` in ``requiredData``: then 404, free."""

    key_header = "authorization"
    key_prefix = "Bearer "

    def who(self, received: Received) -> str | None:
        if received.path != "/profile/linkedin" or self.header(received, "accept-version") != "v2.0":
            return None
        return str((received.body or {}).get("id") or "")

    def ok(self, received: Received) -> Answer:
        status, body, headers = super().ok(received)
        profile = body.get("profile") if isinstance(body, dict) else None
        required = (received.body or {}).get("requiredData") or []
        if isinstance(profile, dict) and not profile.get("phones") and "phone" in required:
            self.billed -= 1
            return 404, {"message": "Required data not found"}, {}
        return status, body, headers

    def no_credits(self) -> Answer:
        return 200, {"message": "No credits left"}, {}

    def no_match(self) -> Answer:
        return 404, {"message": "Profile not found"}, {}

    def found(self, phones: list[Phone]) -> tuple[int, Any, bool]:
        spaced = [_spaced(p.number) for p in phones]
        profile = {"id": "k-1", "starryPhone": spaced[0] if spaced else None, "phones": spaced}
        return 200, {"profile": profile}, True


def _spaced(number: str) -> str:
    return f"{number[:3]} {number[3]} " + " ".join(number[i : i + 2] for i in range(4, len(number), 2))


FAKES: dict[str, type[FakeVendor]] = {
    "pdl": FakePdl,
    "prospeo": FakeProspeo,
    "lusha": FakeLusha,
    "kaspr": FakeKaspr,
}


class CallingBack:
    """A vendor that POSTs results to the ``webhook_url`` a request named, from another thread as the
    vendor does later. ``hold`` keeps the callbacks until :meth:`release`; ``deliveries`` records
    (status, body) of every callback POSTed, ``sent`` (url, payload); ``lose_callbacks``: none."""

    def __init__(self) -> None:
        self.hold = False
        self.lose_callbacks = False
        self.held: list[tuple[str, Any]] = []
        self.sent: list[tuple[str, Any]] = []
        self.deliveries: list[tuple[int, Any]] = []
        self._threads: list[threading.Thread] = []

    def callback(self, url: str, payload: Any) -> None:
        if self.lose_callbacks:
            return
        if self.hold:
            self.held.append((url, payload))
            return
        thread = threading.Thread(target=self.deliver, args=(url, payload), daemon=True)
        self._threads.append(thread)
        thread.start()

    def signed(self, raw: bytes) -> dict[str, str]:
        """The headers a delivery carries besides its JSON type (none by default)."""
        return {}

    def deliver(self, url: str, payload: Any) -> int:
        """POST one callback as the vendor does; its status."""
        raw = orjson.dumps(payload)
        headers = {"Content-Type": "application/json", **self.signed(raw)}
        response = httpx.post(url, content=raw, headers=headers, timeout=30)
        self.sent.append((url, payload))
        self.deliveries.append((response.status_code, response.json()))
        return response.status_code

    def release(self) -> list[int]:
        """Deliver the held callbacks now: their statuses."""
        held, self.held, self.hold = self.held, [], False
        return [self.deliver(url, payload) for url, payload in held]

    def join(self) -> None:
        for thread in self._threads:
            thread.join(timeout=60)


class FakeFullEnrich(CallingBack, FakeVendor):
    """FullEnrich API v2: POST /api/v2/contact/enrich/bulk (``Authorization: Bearer``) answers an
    ``enrichment_id``; GET …/bulk/{id} answers 400 ``error.enrichment.in_progress`` for the first
    ``polls_before_done`` polls, then ``FINISHED`` with ``data[].contact_info``. ``never_finish``
    keeps it ``IN_PROGRESS``; ``credits`` (phones it may reveal) ends it ``CREDITS_INSUFFICIENT`` (402).
    A request with a ``webhook_url`` is also called back at once with the finished body (FullEnrich's
    webhook), signed ``X-Signature-SHA1`` (HMAC-SHA1 of the body keyed by the API key). An
    enrichment is finished (and billed) once: polls and callback answer the same body."""

    key_header = "Authorization"
    key_prefix = "Bearer "
    PATH = "/api/v2/contact/enrich/bulk"

    def __init__(self, key: str = "test-key") -> None:
        FakeVendor.__init__(self, key)
        CallingBack.__init__(self)
        self.enrichments: dict[str, list[dict[str, Any]]] = {}
        self.polls: dict[str, int] = {}
        self.polls_before_done = 1
        self.never_finish = False
        self.results: dict[str, Answer] = {}
        self.webhooks: dict[str, str] = {}
        self.malformed_post = False
        """The bulk POST answers a body that is not the documented shape (``malformed``: the polls)."""

    def signed(self, raw: bytes) -> dict[str, str]:
        return {"X-Signature-SHA1": hmac.new(self.key.encode(), raw, hashlib.sha1).hexdigest()}

    def ok(self, received: Received) -> Answer:
        if self.throttle > 0:
            self.throttle -= 1
            return 429, {"code": "error.rate.limit", "message": "Too many requests. Try again in 1m"}, {}
        if self.header(received, "Authorization") != "Bearer " + self.key:
            return 401, {"code": "error.api.key", "message": "Unknown api key"}, {}
        if received.method == "POST" and received.path == self.PATH:
            if self.malformed_post:
                return 200, "<html>maintenance</html>", {}
            enrichment_id = f"e-{len(self.enrichments) + 1}"
            self.enrichments[enrichment_id] = list((received.body or {}).get("data") or [])
            if webhook_url := (received.body or {}).get("webhook_url"):
                self.webhooks[enrichment_id] = webhook_url
                self.callback(webhook_url, self.finished(enrichment_id)[1])
            return 200, {"enrichment_id": enrichment_id}, {}
        enrichment_id = received.path.rsplit("/", 1)[-1]
        if received.method != "GET" or enrichment_id not in self.enrichments:
            return 404, {"code": "error.enrichment.not_found", "message": "Enrichment ID not found"}, {}
        self.polls[enrichment_id] = self.polls.get(enrichment_id, 0) + 1
        if self.never_finish:
            return 200, {"id": enrichment_id, "status": "IN_PROGRESS", "data": []}, {}
        if self.polls[enrichment_id] <= self.polls_before_done:
            message = "Enrichment not ready, try again in 30 seconds"
            return 400, {"code": "error.enrichment.in_progress", "message": message}, {}
        if self.malformed:
            return 200, {"id": enrichment_id, "status": "FINISHED", "data": "not a list"}, {}
        return self.finished(enrichment_id)

    def finished(self, enrichment_id: str) -> Answer:
        if enrichment_id not in self.results:
            self.results[enrichment_id] = self._finish(enrichment_id)
        return self.results[enrichment_id]

    def _finish(self, enrichment_id: str) -> Answer:
        records, status = [], "FINISHED"
        for contact in self.enrichments[enrichment_id]:
            who = _slug(contact["linkedin_url"]) if "linkedin_url" in contact else contact.get("last_name")
            phones = self.people.get(who or "", [])
            if phones and self.credits is not None and self.credits <= 0:
                status = "CREDITS_INSUFFICIENT"
                break
            info: dict[str, Any] = {}
            if phones:
                region = "FR" if phones[0].number.startswith("+33") else None
                info = {
                    "most_probable_phone": {"number": phones[0].number, "region": region},
                    "phones": [{"number": p.number, "region": region} for p in phones],
                }
                self.billed += 1
                if self.credits is not None:
                    self.credits -= 1
            records.append({"input": contact, "custom": contact.get("custom"), "contact_info": info})
        body = {
            "id": enrichment_id,
            "status": status,
            "data": records,
            "cost": {"credits": 10 * len(records)},
        }
        return (402 if status == "CREDITS_INSUFFICIENT" else 200), body, {}


class FakeApollo(CallingBack, FakeVendor):
    """Apollo People Match: ``POST /api/v1/people/match`` (``x-api-key``, query parameters) answers
    ``{"person": …}`` (or ``null``) at once, then POSTs the revealed ``phone_numbers`` to the request's
    ``webhook_url`` (:class:`CallingBack`). With ``lose_callbacks`` nothing is POSTed:
    ``GET /api/v1/webhook_result/{request_id}`` answers 404 ``result_pending`` ``pending_polls``
    times, then the payload (Apollo's poll-webhook-result)."""

    key_header = "x-api-key"

    def __init__(self, key: str = "test-key") -> None:
        FakeVendor.__init__(self, key)
        CallingBack.__init__(self)
        self.pending_polls = 0
        self.results: dict[str, dict[str, Any]] = {}
        self.withheld: set[str] = set()
        """Results not ready yet (``hold``): their polls are ``result_pending`` too."""

    def who(self, received: Received) -> str | None:
        query = {key: values[0] for key, values in received.query.items()}
        return _slug(query["linkedin_url"]) if "linkedin_url" in query else query.get("last_name")

    def no_credits(self) -> Answer:
        return 422, {"error": "You have insufficient credits to perform this action"}, {}

    def no_match(self) -> Answer:
        return 200, {"person": None}, {}

    def ok(self, received: Received) -> Answer:
        if received.method == "GET" and received.path.startswith("/api/v1/webhook_result/"):
            return self.poll(received)
        if received.method != "POST" or received.path != "/api/v1/people/match":
            return 404, {"error": "Not found"}, {}
        status, body, headers = super().ok(received)
        if status == 200 and body.get("person") is not None:
            body["request_id"] = request_id = f"-{len(self.received)}0423"
            payload = body.pop("_callback")
            self.results[request_id] = payload
            if self.hold:
                self.withheld.add(request_id)
            self.callback(received.query["webhook_url"][0], payload)
        return status, body, headers

    def poll(self, received: Received) -> Answer:
        if self.header(received, "x-api-key") != self.key:
            return self.refused()
        request_id = received.path.rsplit("/", 1)[-1]
        if request_id not in self.results:
            return 404, {"error_code": "request_id_unknown", "error": "Unknown request id"}, {}
        if request_id in self.withheld or self.pending_polls > 0:
            self.pending_polls = max(0, self.pending_polls - 1)
            return 404, {"error_code": "result_pending", "retry_after_seconds": 5}, {}
        return 200, self.results[request_id], {}

    def found(self, phones: list[Phone]) -> tuple[int, Any, bool]:
        numbers = [
            {
                "raw_number": p.number,
                "sanitized_number": p.number,
                "type_cd": p.kind,
                "status_cd": "valid_number",
                "dnc_status_cd": "dnc" if p.do_not_call else "not_dnc",
            }
            for p in phones
            if not p.masked
        ]
        callback = {"status": "success", "people": [{"id": "p-1", "phone_numbers": numbers}]}
        return 200, {"person": {"id": "p-1"}, "_callback": callback}, bool(numbers)

    def release(self) -> list[int]:
        self.withheld.clear()
        return super().release()
