"""Authentication with the key cache, against a real server: a key rotated, or phone access
withdrawn, from another process (the CLI) is refused once ``TROVA_AUTH_CACHE_TTL_S`` has passed.

Nothing here depends on timing: the test waits the whole TTL before asserting the refusal, which
must hold from then on (``trova.accounts.keycache``)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest

from tests.api.conftest import Api, start_api
from tests.support.databases import fresh_postgres_database

TTL_S = 1.0


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def cached(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with ExitStack() as stack:
        url = stack.enter_context(fresh_postgres_database()) if request.param == "postgresql" else None
        instance = start_api(tmp_path_factory.mktemp("keys"), {"TROVA_AUTH_CACHE_TTL_S": str(TTL_S)}, url=url)
        stack.callback(instance.server.stop)
        yield instance


def bulk_status(api: Api, key: str) -> httpx.Response:
    """A phone endpoint that authenticates and reads: 404 for an unknown batch means the key passed."""
    with api.client(key) as client:
        return client.get(f"/phone/bulk?id={uuid.uuid4()}")


def test_a_key_rotated_from_another_process_is_refused_after_the_ttl(cached: Api) -> None:
    old = cached.account("rotated")
    assert bulk_status(cached, old).status_code == 404
    new = cached.cli("accounts", "rotate-key", "rotated").strip().splitlines()[-1]
    time.sleep(TTL_S)
    refused = bulk_status(cached, old)
    assert (refused.status_code, refused.json()) == (401, {"message": "This apikey is not valid"})
    assert bulk_status(cached, new).status_code == 404


def test_phone_access_withdrawn_from_another_process_is_refused_after_the_ttl(cached: Api) -> None:
    key = cached.account("withdrawn")
    assert bulk_status(cached, key).status_code == 404
    cached.cli("accounts", "disable-phone", "withdrawn")
    time.sleep(TTL_S)
    refused = bulk_status(cached, key)
    assert refused.status_code == 401
    assert refused.json() == {"message": "This account is not allowed to use the phone search feature"}
    cached.cli("accounts", "enable-phone", "withdrawn")
    assert bulk_status(cached, key).status_code == 404, "access granted again counts at once"

