"""Enrow's official clients, on the wire: each test sends exactly the requests one client sends and
checks every field that client reads is present, with the type and meaning it expects.

No client can be installed in CI, so what each one reads is written down here from its source:

- Python SDK ``enrow``: ``enrow/resources/phone_finder.py`` reads ``id`` of the single POST and polls
  ``qualification``; ``enrow/utils/polling.py`` treats ``pending``, ``processing`` and ``ongoing`` as
  unfinished; ``enrow/http.py`` maps 401/402/429 and takes ``X-RateLimit-Reset`` as seconds to wait.
- JS SDK ``enrow``: ``src/resources/phone-finder.ts`` camel-cases every response (so ``batch_id``
  reads as ``batchId``) and declares ``batchId``, ``total``, ``status`` on the bulk types;
  ``src/utils/polling.ts`` has the same three unfinished states; ``src/client.ts`` takes
  ``X-RateLimit-Reset`` as seconds.
- Go SDK ``enrow-go``: ``types.go`` decodes the bulk POST into ``batch_id``, ``total``, ``status``, the
  bulk GET into ``batch_id``, ``status``, ``total`` and ``results[].index/qualification/number/country``,
  and ``AccountInfo`` into ``credits`` (a number) and ``webhooks`` (strings).
- Rust ``phone-finder``: ``src/lib.rs`` requires ``batchId``, ``total``, ``status`` on the bulk POST and
  GET, and a string ``id`` on every result (single and bulk).
- PHP SDK, CLI and MCP server: ``id`` and ``general.status``.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.api.conftest import Api, start_api
from trova.people.models import Answer

ADA = {"linkedin_url": "https://www.linkedin.com/in/ada-lovelace"}
FOUND = {"ada-lovelace": Answer(person_key="p:1", number="+15705551234", country="US", line_type="mobile")}
UNFINISHED = {"pending", "processing", "ongoing"}


@pytest.fixture(scope="module")
def key(api: Api) -> str:
    return api.account("sdk-wire", "--credits", "100000")


def _post(api: Api, key: str, path: str, body: dict[str, Any]) -> httpx.Response:
    with api.client(key) as client:
        return client.post(path, json=body)


def _get(api: Api, key: str, path: str) -> dict[str, Any]:
    with api.client(key) as client:
        response = client.get(path)
    assert response.is_success, "every SDK takes any 2xx as success (an ongoing single is 202)"
    body: dict[str, Any] = response.json()
    return body


def _camel(value: Any) -> Any:
    """What the JS SDK's ``toCamelCase`` makes of a response."""
    if isinstance(value, list):
        return [_camel(item) for item in value]
    if isinstance(value, dict):
        return {
            "".join(part.capitalize() if i else part for i, part in enumerate(name.split("_"))): _camel(item)
            for name, item in value.items()
        }
    return value


def _bulk(api: Api, key: str, searches: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    created = _post(api, key, "/phone/bulk", {"searches": searches})
    assert created.status_code == 201
    posted: dict[str, Any] = created.json()
    return posted, _get(api, key, f"/phone/bulk?id={posted['id']}")


def test_bulk_post_carries_every_clients_batch_fields(api: Api, key: str) -> None:
    posted, ongoing = _bulk(api, key, [ADA, {**ADA, "custom": 1}])
    assert posted["batch_id"] == posted["batchId"] == posted["id"]
    assert (posted["total"], posted["status"]) == (2, ongoing["general"]["status"]) == (2, "ongoing")
    assert _camel(posted)["batchId"] == posted["id"]


def test_bulk_get_carries_every_clients_batch_fields_while_ongoing(api: Api, key: str) -> None:
    posted, ongoing = _bulk(api, key, [ADA])
    assert ongoing["batch_id"] == ongoing["batchId"] == ongoing["general"]["id"] == posted["id"]
    assert ongoing["total"] == ongoing["stats"]["requested"] == 1
    assert ongoing["status"] == ongoing["general"]["status"] == "ongoing"
    assert ongoing["status"] in UNFINISHED


def test_go_and_rust_read_the_completed_batch(api: Api, key: str) -> None:
    posted, _ = _bulk(api, key, [ADA, {"first_name": "No", "last_name": "Body", "company_name": "Void"}])
    api.work(FOUND)
    done = _get(api, key, f"/phone/bulk?id={posted['id']}")
    assert (done["batch_id"], done["batchId"], done["total"], done["status"]) == (
        posted["id"],
        posted["id"],
        2,
        "completed",
    )
    assert done["status"] not in UNFINISHED
    found, missing = done["results"]
    assert (found["index"], found["qualification"], found["number"], found["country"]) == (
        0,
        "found",
        "+15705551234",
        "US",
    )
    assert (missing["index"], missing["qualification"]) == (1, "not_found")
    for result in done["results"]:
        assert isinstance(result["id"], str) and result["id"]
    assert len({result["id"] for result in done["results"]}) == 2


def test_single_search_reads_as_the_sdks_poll_it(api: Api, key: str) -> None:
    created = _post(api, key, "/phone/single", ADA)
    assert created.status_code == 201
    search_id = created.json()["id"]
    assert isinstance(search_id, str)
    ongoing = _get(api, key, f"/phone/single?id={search_id}")
    assert ongoing["qualification"] in UNFINISHED
    api.work(FOUND)
    done = _get(api, key, f"/phone/single?id={search_id}")
    assert done["qualification"] not in UNFINISHED
    assert (done["id"], done["number"], done["country"]) == (search_id, "+15705551234", "US")


def test_account_info_decodes_as_the_go_sdk_declares_it(api: Api, key: str) -> None:
    info = _get(api, key, "/account/info")
    assert isinstance(info["credits"], int | float)
    assert isinstance(info["webhooks"], list) and all(isinstance(url, str) for url in info["webhooks"])


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Any:
    instance = start_api(tmp_path_factory.mktemp("limited"), {"TROVA_RATE_LIMIT_POST_PER_S": "2"})
    yield instance
    instance.server.stop()


def test_post_responses_carry_the_rate_limit_headers(limited: Api) -> None:
    key = limited.account("headers", "--credits", "100000")
    with limited.client(key) as client:
        responses = [client.post("/phone/single", json=ADA) for _ in range(6)]
    accepted = [response for response in responses if response.status_code == 201]
    refused = [response for response in responses if response.status_code == 429]
    assert accepted and refused
    for response in responses:
        assert response.headers["X-RateLimit-Limit"] == "2"
        assert 0 <= int(response.headers["X-RateLimit-Remaining"]) <= 2
    assert accepted[0].headers["X-RateLimit-Remaining"] == "1"
    assert all(response.headers["X-RateLimit-Remaining"] == "0" for response in refused)


def test_rate_limit_reset_is_the_seconds_to_wait(limited: Api) -> None:
    """The Python and JS SDKs hand ``int(X-RateLimit-Reset)`` to their users as a wait in seconds."""
    key = limited.account("reset", "--credits", "100000")
    with limited.client(key) as client:
        refused = next(
            response
            for response in (client.post("/phone/single", json=ADA) for _ in range(10))
            if response.status_code == 429
        )
        wait_s = int(refused.headers["X-RateLimit-Reset"])
        assert 1 <= wait_s <= 2
        assert refused.headers["Retry-After"] == str(wait_s)
        assert refused.json() == {"message": "Rate limit exceeded"}
        time.sleep(wait_s)
        assert client.post("/phone/single", json=ADA).status_code == 201
