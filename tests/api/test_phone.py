"""Every status code and message of docs/api.md for the phone endpoints and account info."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.api.conftest import Api
from trova.people.models import Answer

ADA = {"linkedin_url": "https://www.linkedin.com/in/ada-lovelace"}
FOUND = {"ada-lovelace": Answer(person_key="p:1", number="+15705551234", country="US", line_type="mobile")}


@pytest.fixture(scope="module")
def key(api: Api) -> str:
    return api.account("phone-main", "--credits", "1000000", "--paygo", "1000")


def post(
    api: Api,
    key: str | None,
    path: str,
    body: Any = None,
    *,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    with api.client(key) as client:
        if content is not None:
            return client.post(path, content=content, headers=headers or {"content-type": "application/json"})
        return client.post(path, json=body, headers=headers)


def get(api: Api, key: str | None, path: str) -> httpx.Response:
    with api.client(key) as client:
        return client.get(path)


def assert_error(response: httpx.Response, status: int, message: str) -> None:
    assert (response.status_code, response.json()) == (status, {"message": message})
    assert response.headers["content-type"].startswith("application/json")


# --- authentication ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/phone/single"),
        ("POST", "/phone/bulk"),
        ("GET", "/phone/single?id=x"),
        ("GET", "/phone/bulk?id=x"),
        ("GET", "/account/info"),
    ],
)
def test_missing_and_invalid_keys(api: Api, method: str, path: str) -> None:
    with api.client() as client:
        assert_error(client.request(method, path, json=ADA), 401, "No apikey found in the x-api-key headers")
        response = client.request(method, path, json=ADA, headers={"x-api-key": "trova_nope"})
        assert_error(response, 401, "This apikey is not valid")
        response = client.request(method, path, json=ADA, headers={"Authorization": "Bearer trova_nope"})
        assert_error(response, 401, "No apikey found in the x-api-key headers")


def test_disabled_account_gets_401_on_phone_endpoints(api: Api) -> None:
    key = api.account("disabled", "--credits", "400")
    api.cli("accounts", "disable-phone", "disabled")
    assert_error(
        post(api, key, "/phone/single", ADA),
        401,
        "This account is not allowed to use the phone search feature",
    )
    assert_error(
        post(api, key, "/phone/bulk", {"searches": [ADA]}),
        401,
        "This account is not allowed to use the phone search feature",
    )
    assert_error(
        get(api, key, f"/phone/bulk?id={uuid.uuid4()}"),
        401,
        "This account is not allowed to use the phone search feature",
    )
    assert get(api, key, "/account/info").json()["credits"] == 400
    api.cli("accounts", "enable-phone", "disabled")
    assert post(api, key, "/phone/single", ADA).status_code == 201


def test_rotated_key_replaces_the_old_one(api: Api) -> None:
    old = api.account("rotating")
    new = api.cli("accounts", "rotate-key", "rotating").strip().splitlines()[-1]
    assert_error(get(api, old, "/account/info"), 401, "This apikey is not valid")
    assert get(api, new, "/account/info").status_code == 200


# --- account info --------------------------------------------------------------------------------


def test_account_info(api: Api) -> None:
    key = api.account("info", "--credits", "300", "--paygo", "20", "--webhook", "https://hooks.example.com/x")
    response = get(api, key, "/account/info")
    assert response.status_code == 200
    assert response.json() == {
        "credits": 320,
        "webhooks": ["https://hooks.example.com/x"],
        "credits_detail": {"sub": 300, "paygo": 20},
    }


# --- single --------------------------------------------------------------------------------------


def test_single_lifecycle_found(api: Api, key: str) -> None:
    response = post(api, key, "/phone/single", {**ADA, "custom": {"crm": 7}, "unknown_field": 1})
    assert response.status_code == 201
    body = response.json()
    search_id = body.pop("id")
    uuid.UUID(search_id)
    assert body == {
        "message": "Single search operating",
        "credits_used": 40,
        "credits": {"amount": 40, "source": "sub", "split": {"fromSub": 40, "fromPaygo": 0}},
    }
    ongoing = get(api, key, f"/phone/single?id={search_id}")
    assert ongoing.status_code == 202
    assert ongoing.json() == {
        "id": search_id,
        "qualification": "ongoing",
        "params": {**ADA, "unknown_field": 1},
        "custom": {"crm": 7},
    }
    api.work(FOUND)
    done = get(api, key, f"/phone/single?id={search_id}")
    assert done.status_code == 200
    assert done.json() == {
        "id": search_id,
        "params": {**ADA, "unknown_field": 1},
        "custom": {"crm": 7},
        "qualification": "found",
        "number": "+15705551234",
        "country": "US",
        "line_type": "mobile",
    }


@pytest.mark.parametrize(
    "params",
    [
        {"firstname": "Ada", "lastname": "Lovelace", "company_domain": "https://www.analytical.co.uk/x"},
        {"first_name": "Ada", "last_name": "Lovelace", "company_name": "Analytical Engines Ltd"},
        {"fullname": "Ada Lovelace", "company_name": "Analytical"},
        {"full_name": "Ada Lovelace", "company_domain": "analytical.co.uk"},
    ],
)
def test_single_aliases_not_found_has_no_number(api: Api, key: str, params: dict[str, str]) -> None:
    response = post(api, key, "/phone/single", params)
    assert response.status_code == 201, response.text
    search_id = response.json()["id"]
    api.work()
    done = get(api, key, f"/phone/single?id={search_id}")
    assert done.status_code == 200
    assert done.json() == {"id": search_id, "params": params, "qualification": "not_found"}


@pytest.mark.parametrize(
    ("content", "headers", "message"),
    [
        (b"", {"content-type": "application/json"}, "Missing payload"),
        (b"   ", {"content-type": "application/json"}, "Missing payload"),
        (b"null", {"content-type": "application/json"}, "Missing payload"),
        (b"{", {"content-type": "application/json"}, "Invalid JSON input"),
        (b"\xff\xfe{}", {"content-type": "application/json"}, "Invalid JSON input"),
        (b'{"linkedin_url": "\xe9"}', {"content-type": "application/json"}, "Invalid JSON input"),
        (
            b'{"linkedin_url": "https://www.linkedin.com/in/x"}',
            {"content-type": "text/plain"},
            "Invalid JSON input",
        ),
        (
            b'{"linkedin_url": "https://www.linkedin.com/in/x"}',
            {"content-type": "application/x-www-form-urlencoded"},
            "Invalid JSON input",
        ),
        (b"[]", {"content-type": "application/json"}, "Invalid JSON input"),
        (b'"text"', {"content-type": "application/json"}, "Invalid JSON input"),
        (b"{}", {"content-type": "application/json"}, "Missing mandatory property"),
        (
            b'{"first_name": "Ada", "last_name": "L"}',
            {"content-type": "application/json"},
            "Missing mandatory property",
        ),
        (
            b'{"first_name": ["Ada"], "last_name": {"x": 1}, "company_name": 3}',
            {"content-type": "application/json"},
            "Missing mandatory property",
        ),
        (
            b'{"linkedin_url": "https://www.linkedin.com/company/acme"}',
            {"content-type": "application/json"},
            "Invalid linkedin_url",
        ),
        (
            b'{"linkedin_url": "https://www.linkedin.com/in/x", "settings": {"webhook": "http://example.com"}}',
            {"content-type": "application/json"},
            "Invalid webhook url",
        ),
        (
            b'{"linkedin_url": "https://www.linkedin.com/in/x", "settings": {"webhook": "/relative"}}',
            {"content-type": "application/json"},
            "Invalid webhook url",
        ),
    ],
)
def test_single_bad_input(api: Api, key: str, content: bytes, headers: dict[str, str], message: str) -> None:
    before = get(api, key, "/account/info").json()["credits"]
    assert_error(post(api, key, "/phone/single", content=content, headers=headers), 400, message)
    assert get(api, key, "/account/info").json()["credits"] == before


def test_json_content_type_with_charset_is_accepted(api: Api, key: str) -> None:
    response = post(
        api,
        key,
        "/phone/single",
        content=b'{"linkedin_url": "linkedin.com/in/x"}',
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 201


def test_insufficient_credits(api: Api) -> None:
    poor = api.account("poor", "--credits", "39")
    assert_error(post(api, poor, "/phone/single", ADA), 402, "Insufficient credits")
    assert_error(post(api, poor, "/phone/bulk", {"searches": [ADA]}), 402, "Insufficient credits")
    assert get(api, poor, "/account/info").json()["credits"] == 39
    assert "reserve" not in api.cli("accounts", "ledger", "poor")


def test_paygo_source_when_subscription_runs_out(api: Api) -> None:
    mixed = api.account("mixed", "--credits", "50", "--paygo", "100")
    body = post(api, mixed, "/phone/bulk", {"searches": [ADA, ADA, ADA]}).json()
    assert body["credits"] == {"amount": 120, "source": "paygo", "split": {"fromSub": 50, "fromPaygo": 70}}
    api.work()
    assert get(api, mixed, "/account/info").json()["credits_detail"] == {"sub": 50, "paygo": 100}


def test_get_single_errors(api: Api, key: str) -> None:
    assert_error(get(api, key, "/phone/single"), 400, "Missing id in the query params")
    assert_error(get(api, key, "/phone/single?id="), 400, "Missing id in the query params")
    assert_error(get(api, key, f"/phone/single?id={uuid.uuid4()}"), 404, "Search not found")
    assert_error(get(api, key, "/phone/single?id=not-a-uuid%00"), 404, "Search not found")
    bulk_id = post(api, key, "/phone/bulk", {"searches": [ADA]}).json()["id"]
    assert_error(get(api, key, f"/phone/single?id={bulk_id}"), 404, "Search not found")
    other = api.account("other-single")
    single_id = post(api, key, "/phone/single", ADA).json()["id"]
    assert_error(get(api, other, f"/phone/single?id={single_id}"), 404, "Search not found")


# --- bulk ----------------------------------------------------------------------------------------


def test_bulk_lifecycle(api: Api, key: str) -> None:
    searches = [
        {**ADA, "custom": "row-1"},
        {"firstname": "Nobody", "lastname": "Here", "company_name": "Void", "custom": 2},
        {"full_name": "Ada Lovelace", "company_domain": "analytical.co.uk"},
    ]
    response = post(api, key, "/phone/bulk", {"searches": searches, "custom": {"campaign": "q4"}})
    assert response.status_code == 201
    body = response.json()
    batch_id = body.pop("id")
    assert body == {
        "message": "Bulk search operating",
        "credits_used": 120,
        "estimated_duration": 1,
        "credits": {"amount": 120, "source": "sub", "split": {"fromSub": 120, "fromPaygo": 0}},
        "batch_id": batch_id,
        "batchId": batch_id,
        "total": 3,
        "status": "ongoing",
    }
    ongoing = get(api, key, f"/phone/bulk?id={batch_id}")
    assert ongoing.status_code == 200
    assert ongoing.json() == {
        "general": {"id": batch_id, "status": "ongoing", "custom": {"campaign": "q4"}},
        "stats": {"requested": 3, "finished": 0},
        "batch_id": batch_id,
        "batchId": batch_id,
        "total": 3,
        "status": "ongoing",
    }
    api.work(FOUND)
    done = get(api, key, f"/phone/bulk?id={batch_id}").json()
    aliases = (done["batch_id"], done["batchId"], done["total"], done["status"])
    assert aliases == (batch_id, batch_id, 3, "completed")
    search_ids = [result.pop("id") for result in done["results"]]
    assert len(set(search_ids)) == 3 and all(isinstance(search_id, str) for search_id in search_ids)
    assert done["general"] == {"id": batch_id, "status": "completed", "custom": {"campaign": "q4"}}
    assert done["stats"] == {
        "requested": 3,
        "finished": 3,
        "found": 1,
        "valid": 1,
        "credits_cost": 40,
        "credits_to_refund": 80,
    }
    assert done["results"] == [
        {
            "index": 0,
            "params": ADA,
            "custom": "row-1",
            "qualification": "found",
            "number": "+15705551234",
            "country": "US",
            "line_type": "mobile",
        },
        {
            "index": 1,
            "params": {"firstname": "Nobody", "lastname": "Here", "company_name": "Void"},
            "custom": 2,
            "qualification": "not_found",
        },
        {"index": 2, "params": searches[2], "qualification": "not_found"},
    ]


def test_bulk_without_custom_has_no_custom(api: Api, key: str) -> None:
    batch_id = post(api, key, "/phone/bulk", {"searches": [ADA]}).json()["id"]
    assert get(api, key, f"/phone/bulk?id={batch_id}").json()["general"] == {
        "id": batch_id,
        "status": "ongoing",
    }


def _search_list(count: int) -> list[dict[str, str]]:
    return [ADA] * count


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "At least 1 phone search must be present in the payload"),
        ({"searches": []}, "At least 1 phone search must be present in the payload"),
        ({"searches": None}, "At least 1 phone search must be present in the payload"),
        ({"searches": "x"}, "At least 1 phone search must be present in the payload"),
        ({"searches": {"0": ADA}}, "At least 1 phone search must be present in the payload"),
        ({"searches": _search_list(3001)}, "Too many searches. Limit is currently at 3000 per batch."),
        (
            {"searches": [*_search_list(7), {"first_name": "A"}, *_search_list(42)]},
            "Missing mandatory property on search n°8 of 50",
        ),
        (
            {"searches": [ADA, ADA, {"linkedin_url": "https://linkedin.com/feed/"}, *_search_list(47)]},
            "Invalid linkedin_url on search n°3 of 50",
        ),
        ({"searches": [ADA, "not an object"]}, "Missing mandatory property on search n°2 of 2"),
        ({"searches": [ADA, [ADA]]}, "Missing mandatory property on search n°2 of 2"),
        ({"searches": [ADA, None]}, "Missing mandatory property on search n°2 of 2"),
        ({"searches": [ADA], "settings": {"webhook": "javascript:alert(1)"}}, "Invalid webhook url"),
        ([ADA], "Invalid JSON input"),
    ],
)
def test_bulk_bad_input_creates_nothing(api: Api, key: str, body: Any, message: str) -> None:
    before = get(api, key, "/account/info").json()["credits"]
    assert_error(post(api, key, "/phone/bulk", body), 400, message)
    assert get(api, key, "/account/info").json()["credits"] == before


def test_bulk_of_3000_is_accepted(api: Api, key: str) -> None:
    response = post(api, key, "/phone/bulk", {"searches": _search_list(3000)})
    assert response.status_code == 201
    assert response.json()["credits_used"] == 3000 * 40


def test_get_bulk_errors(api: Api, key: str) -> None:
    assert_error(get(api, key, "/phone/bulk"), 400, "Missing id in the query params")
    assert_error(get(api, key, f"/phone/bulk?id={uuid.uuid4()}"), 404, "Bulk search not found")
    assert_error(get(api, key, "/phone/bulk?id=%27%20or%201%3D1"), 404, "Bulk search not found")
    single_id = post(api, key, "/phone/single", ADA).json()["id"]
    assert_error(get(api, key, f"/phone/bulk?id={single_id}"), 404, "Bulk search not found")
    other = api.account("other-bulk")
    batch_id = post(api, key, "/phone/bulk", {"searches": [ADA]}).json()["id"]
    assert_error(get(api, other, f"/phone/bulk?id={batch_id}"), 404, "Bulk search not found")
    assert get(api, key, f"/phone/bulk?id={batch_id.upper()}").status_code == 200


# --- sizes, routes and the service endpoints -----------------------------------------------------


def test_body_over_the_limit_is_413(tmp_path_factory: pytest.TempPathFactory) -> None:
    from tests.api.conftest import start_api

    small = start_api(tmp_path_factory.mktemp("small"), {"TROVA_MAX_BODY_BYTES": "2048"})
    try:
        key = small.account("s", "--credits", "1000")
        big = b'{"linkedin_url": "https://www.linkedin.com/in/x", "pad": "' + b"a" * 5000 + b'"}'
        assert_error(post(small, key, "/phone/single", content=big), 413, "Payload too large")

        def chunks() -> Any:
            for _ in range(10):
                yield b" " * 1000
            yield b'{"linkedin_url": "https://www.linkedin.com/in/x"}'

        with small.client(key) as client:
            streamed = client.post(
                "/phone/single", content=chunks(), headers={"content-type": "application/json"}
            )
        assert_error(streamed, 413, "Payload too large")
        assert get(small, key, "/account/info").json()["credits"] == 1000
        assert post(small, key, "/phone/single", ADA).status_code == 201
    finally:
        small.server.stop()


def test_megabyte_strings_are_refused_cleanly(api: Api, key: str) -> None:
    response = post(api, key, "/phone/single", {"linkedin_url": "x" * 3_000_000})
    assert_error(response, 400, "Invalid linkedin_url")
    response = post(api, key, "/phone/bulk", {"searches": [{"first_name": "a" * 2_000_000}]})
    assert_error(response, 400, "Missing mandatory property on search n°1 of 1")


def test_unknown_routes_and_methods_get_the_envelope(api: Api) -> None:
    with api.client() as client:
        assert_error(client.get("/nope"), 404, "Not found")
        assert_error(client.put("/phone/bulk"), 405, "Method not allowed")
        assert_error(client.delete("/phone/single"), 405, "Method not allowed")


def test_service_endpoints_need_no_key(api: Api, key: str) -> None:
    post(api, key, "/phone/single", ADA)
    with api.client() as client:
        assert client.get("/healthz").json()["status"] == "ok"
        metrics = client.get("/metrics")
        assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
        assert 'trova_http_requests_total{method="POST",route="/phone/single",status="201"}' in metrics.text
        assert 'trova_jobs{status="queued"}' in metrics.text
        document = client.get("/openapi.json").json()
        assert {"/phone/single", "/phone/bulk", "/account/info"} <= set(document["paths"])
        assert "SearchIn" in document["components"]["schemas"]
        assert client.get("/docs").status_code == 200
