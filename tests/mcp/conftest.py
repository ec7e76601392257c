"""One real ``trova serve`` (workers included) for the MCP tests, with contacts 1-10 imported."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count

import pytest

from tests.client.support import Deployment, deployment

_accounts = count(1)


@pytest.fixture(scope="package")
def trova(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with deployment(tmp_path_factory.mktemp("mcp"), {"TROVA_RATE_LIMIT_POST_PER_S": "10000"}) as server:
        server.import_contacts(range(1, 11))
        yield server


@pytest.fixture
def api_key(trova: Deployment) -> str:
    """A fresh account with 10,000 credits, so each test sees its own balance."""
    return trova.create_account(f"agent-{next(_accounts)}", 10_000)
