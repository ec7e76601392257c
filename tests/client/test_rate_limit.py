"""429s from a real server limited to 1 POST per second are retried transparently (``Retry-After``)."""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.client.support import Deployment, contact, deployment
from tests.support.servers import run_trova
from trova.client import AsyncClient, Client, RateLimitError, RetryPolicy


class RecordingTransport(httpx.AsyncHTTPTransport):
    """The real transport, remembering the status of every answer."""

    def __init__(self) -> None:
        super().__init__()
        self.statuses: list[int] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        self.statuses.append(response.status_code)
        return response


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with deployment(tmp_path_factory.mktemp("limited"), {"TROVA_RATE_LIMIT_POST_PER_S": "1"}) as dep:
        dep.import_contacts(range(1, 6))
        yield dep


def test_concurrent_posts_over_the_limit_all_succeed(limited: Deployment) -> None:
    key = limited.create_account("burst", 10_000)
    transport = RecordingTransport()

    async def burst() -> list[str | None]:
        async with AsyncClient(key, limited.base_url, transport=transport) as client:
            results = await asyncio.gather(
                *(client.find_and_wait({"linkedin_url": contact(i).linkedin_url}) for i in range(1, 5))
            )
        return [r.number for r in results]

    assert asyncio.run(burst()) == [contact(i).phone for i in range(1, 5)]
    assert 429 in transport.statuses


def test_without_retries_the_429_surfaces_with_retry_after(limited: Deployment) -> None:
    key = limited.create_account("impatient", 10_000)
    search = {"linkedin_url": contact(1).linkedin_url}
    with (
        Client(key, limited.base_url, retry=RetryPolicy(max_attempts=1)) as client,
        pytest.raises(RateLimitError) as limited_error,
    ):
        for _ in range(50):
            client.find(search)
    assert limited_error.value.message == "Rate limit exceeded"
    assert limited_error.value.retry_after is not None and limited_error.value.retry_after >= 0


def test_bulk_tool_under_the_rate_limit(limited: Deployment, tmp_path: Path) -> None:
    key = limited.create_account("bulk-limited", 10_000)
    leads = tmp_path / "leads.csv"
    with leads.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["linkedin"])
        writer.writerows([[contact(i % 5 + 1).linkedin_url + f"?n={i}"] for i in range(5)])
        writer.writerows([[f"https://linkedin.com/in/unknown-{i}"] for i in range(15)])
    run_trova(
        "bulk",
        str(leads),
        "-o",
        str(tmp_path / "out.csv"),
        "--batch-size",
        "4",
        "--poll-interval",
        "0.1",
        "--api-key",
        key,
        "--base-url",
        limited.base_url,
        env=limited.env,
    )
    with (tmp_path / "out.csv").open() as handle:
        statuses = [row["phone_status"] for row in csv.DictReader(handle)]
    assert statuses == ["found"] * 5 + ["not_found"] * 15
    assert limited.batches_of("bulk-limited") == 5
