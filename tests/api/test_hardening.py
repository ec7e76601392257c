"""Issue 17: what an attacker and a bad day found, each defect answered through a real server."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Api
from tests.api.test_phone import ADA, assert_error, get, post


@pytest.fixture(scope="module")
def key(api: Api) -> str:
    return api.account("hardening", "--credits", "1000000")


# --- defect 2: NUL and control characters ---------------------------------------------------------

NAMES = {"first_name": "Ada", "last_name": "Lovelace"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"linkedin_url": "https://www.linkedin.com/in/a\u0000b"}, "Invalid linkedin_url"),
        ({"linkedin_url": "https://www.linkedin.com/in/ab\u001b"}, "Invalid linkedin_url"),
        ({**NAMES, "company_domain": "acme\u0000.com"}, "Missing mandatory property"),
        ({**NAMES, "company_name": "Acme\u0007"}, "Missing mandatory property"),
        ({"first_name": "A\u0000da", "last_name": "L", "company_name": "Acme"}, "Missing mandatory property"),
        ({**ADA, "company_domain": "acme.com\u0000"}, "Missing mandatory property"),
    ],
)
def test_control_characters_in_a_single_are_refused(api: Api, key: str, body: Any, message: str) -> None:
    before = get(api, key, "/account/info").json()["credits"]
    assert_error(post(api, key, "/phone/single", body), 400, message)
    assert get(api, key, "/account/info").json()["credits"] == before


def test_control_characters_in_a_bulk_name_the_search(api: Api, key: str) -> None:
    bad = {"linkedin_url": "https://www.linkedin.com/in/a\u0000b"}
    response = post(api, key, "/phone/bulk", {"searches": [ADA, bad, ADA]})
    assert_error(response, 400, "Invalid linkedin_url on search n°2 of 3")


def test_white_space_around_fields_is_still_accepted(api: Api, key: str) -> None:
    body = {"linkedin_url": "\t https://www.linkedin.com/in/ada-lovelace \r\n", "note": "\u0000 kept"}
    response = post(api, key, "/phone/single", body)
    assert response.status_code == 201
    api.work()
    result = get(api, key, f"/phone/single?id={response.json()['id']}").json()
    assert result["params"] == body


# --- defects 3 and 11: deep and big JSON ----------------------------------------------------------


def nested(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = [value]
    return value


def test_a_body_nested_deeper_than_the_limit_is_refused_at_post(api: Api, key: str) -> None:
    before = get(api, key, "/account/info").json()["credits"]
    deep = nested(300)
    assert_error(post(api, key, "/phone/single", {**ADA, "custom": deep}), 400, "Invalid JSON input")
    assert_error(
        post(api, key, "/phone/bulk", {"searches": [ADA], "custom": deep}), 400, "Invalid JSON input"
    )
    response = post(api, key, "/phone/bulk", {"searches": [{**ADA, "custom": deep}]})
    assert_error(response, 400, "Invalid JSON input")
    assert get(api, key, "/account/info").json()["credits"] == before


def test_custom_at_the_depth_limit_is_accepted_and_readable_back(api: Api, key: str) -> None:
    # body {} is level 1, searches' [] level 2, the search {} level 3: custom may nest 61 more levels
    custom = nested(61)
    created = post(api, key, "/phone/bulk", {"searches": [{**ADA, "custom": custom}], "custom": custom})
    assert created.status_code == 201
    api.work()
    result = get(api, key, f"/phone/bulk?id={created.json()['id']}")
    assert result.status_code == 200
    assert result.json()["general"]["custom"] == custom
    assert result.json()["results"][0]["custom"] == custom


BIG = b"1267650600228229401496703205376"


@pytest.mark.parametrize("literal", [BIG, b"-" + BIG, b"18446744073709551616", b"-9223372036854775809"])
def test_an_integer_beyond_64_bits_in_custom_is_refused(api: Api, key: str, literal: bytes) -> None:
    content = (
        b'{"linkedin_url": "https://www.linkedin.com/in/ada-lovelace", "custom": {"n": ' + literal + b"}}"
    )
    assert_error(post(api, key, "/phone/single", content=content), 400, "Invalid JSON input")


def test_64_bit_integers_and_floats_in_custom_come_back_unchanged(api: Api, key: str) -> None:
    content = (
        b'{"linkedin_url": "https://www.linkedin.com/in/ada-lovelace", "custom": '
        b'{"max": 18446744073709551615, "min": -9223372036854775808, "f": 1.5e300, "s": "' + BIG + b'"}}'
    )
    created = post(api, key, "/phone/single", content=content)
    assert created.status_code == 201
    api.work()
    result = get(api, key, f"/phone/single?id={created.json()['id']}")
    assert b'"custom":{"max":18446744073709551615,"min":-9223372036854775808,"f":1.5e+300,' in result.content
    assert result.json()["custom"]["s"] == BIG.decode()


# --- defect 12: no redirect built from Host -------------------------------------------------------


def test_a_trailing_slash_is_404_never_a_redirect_to_the_host_header(api: Api, key: str) -> None:
    with api.client(key) as client:
        response = client.post("/phone/single/", json=ADA, headers={"host": "evil.example"})
        answered = client.get("/healthz/", headers={"host": "evil.example"})
    assert_error(response, 404, "Not found")
    assert_error(answered, 404, "Not found")
    assert "location" not in response.headers
