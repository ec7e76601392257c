"""The upstream Trova shared by the source tests: started once (importing its data costs seconds)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.client.support import Deployment, deployment

UPSTREAM_PEOPLE = range(1, 3101)
"""People only the upstream knows (``tests.client.support.contact(i)``)."""


@pytest.fixture(scope="session")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """A real ``trova serve`` on its own SQLite file, with its own contacts imported by ``trova import``."""
    root = tmp_path_factory.mktemp("upstream")
    with deployment(root, {"TROVA_RATE_LIMIT_POST_PER_S": "1000"}) as served:
        served.import_contacts(UPSTREAM_PEOPLE)
        yield served
