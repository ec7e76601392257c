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
