"""Schemathesis fuzzing of the OpenAPI document: no 5xx, and every error is the JSON envelope."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Err

from tests.api.conftest import Api

EXAMPLES_PER_OPERATION = 15


def operations(api: Api) -> list[Any]:
    document = httpx.get(f"{api.server.base_url}/openapi.json").json()
    schema = schemathesis.openapi.from_dict(document)
    found = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        found.append(result.ok())
    return found


def test_the_document_describes_every_operation(api: Api) -> None:
    labels = {operation.label for operation in operations(api)}
    assert {
        "POST /phone/single",
        "GET /phone/single",
        "POST /phone/bulk",
        "GET /phone/bulk",
        "GET /account/info",
    } <= labels


@pytest.mark.parametrize(
    "label",
    ["POST /phone/single", "GET /phone/single", "POST /phone/bulk", "GET /phone/bulk", "GET /account/info"],
)
def test_fuzzed_requests_never_5xx(api: Api, label: str) -> None:
    key = api.account(f"fuzz-{label.replace(' ', '').replace('/', '-')}", "--credits", "100000000")
    (operation,) = [op for op in operations(api) if op.label == label]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def check(case: Any) -> None:
        for headers in ({"x-api-key": key}, {}):
            response = case.call(base_url=api.server.base_url, headers=headers)
            assert response.status_code < 500, response.text
            if response.status_code >= 400:
                assert response.json().keys() == {"message"}
                assert isinstance(response.json()["message"], str)

    check()
