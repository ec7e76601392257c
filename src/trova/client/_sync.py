"""The blocking client."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import httpx

from trova.client import _core
from trova.client._core import Call, Done, Exchange, Poll, RetryPolicy
from trova.client.models import AccountInfo, Bulk, Json, PhoneResult, Submission

T = TypeVar("T")


class Client:
    """The Enrow phone contract, against Trova or ``https://api.enrow.io``.

    ``api_key`` and ``base_url`` default to ``TROVA_API_KEY`` / ``TROVA_BASE_URL``, else
    ``http://127.0.0.1:8000``. 429s, 5xx answers and lost connections are retried with backoff
    (honouring ``Retry-After``); every POST carries an ``Idempotency-Key`` so a retried POST cannot
    create a second search on Trova. Use it as a context manager, or call :meth:`close`.
    """

    def __init__(
        self, api_key: str | None = None, base_url: str | None = None, *, timeout_s: float = 30.0,
        retry: RetryPolicy | None = None, retry_unsafe_posts: bool | None = None,
        transport: httpx.BaseTransport | None = None,
        on_retry: Callable[[str, float], None] | None = None,
    ) -> None:
        self.config = _core.resolve_config(api_key, base_url, timeout_s, retry, retry_unsafe_posts)
        self.on_retry = on_retry
        """Called with (reason, seconds) before each wait for a retry (429, 5xx, timeout)."""
        self._http = httpx.Client(base_url=self.config.base_url, timeout=timeout_s, transport=transport)

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _run(self, call: Call[T]) -> T:
        exchange = Exchange(call, self.config)
        content, headers = call.content, call.request_headers(self.config)
        while True:
            try:
                response = self._http.request(call.method, call.path, params=call.params, content=content,
                                              headers=headers)
                step = exchange.on_response(response)
            except httpx.TransportError as exc:
                step = exchange.on_transport_error(exc)
            if isinstance(step, Done):
                return step.value
            if self.on_retry is not None:
                self.on_retry(step.reason, step.delay_s)
            time.sleep(step.delay_s)

    def find(
        self, search: Mapping[str, Any], *, webhook: str | None = None, idempotency_key: str | None = None
    ) -> Submission:
        """POST /phone/single: start one search; poll it with :meth:`get` or :meth:`wait`."""
        return self._run(_core.find_call(search, webhook, idempotency_key))

    def get(self, search_id: str) -> PhoneResult:
        """GET /phone/single: the search's result (``qualification == "ongoing"`` while running)."""
        return self._run(_core.get_single_call(search_id))

    def wait(
        self, search_id: str, *, timeout_s: float | None = 600.0, poll_interval_s: float = 0.5
    ) -> PhoneResult:
        """Poll one search until it is found or not found; :class:`WaitTimeout` after ``timeout_s``."""
        poll = Poll(timeout_s, poll_interval_s, max(poll_interval_s, 5.0), f"search {search_id}")
        while not (result := self.get(search_id)).done:
            time.sleep(poll.next_delay_s())
        return result

    def find_and_wait(self, search: Mapping[str, Any], *, timeout_s: float | None = 600.0) -> PhoneResult:
        """Start one search and wait for its result."""
        return self.wait(self.find(search).id, timeout_s=timeout_s)

    def submit_bulk(
        self, searches: Sequence[Mapping[str, Any]], *, custom: Mapping[str, Any] | None = None,
        webhook: str | None = None, idempotency_key: str | None = None,
    ) -> Submission:
        """POST /phone/bulk: start a batch of 1 to 3,000 searches.

        Pass your own ``idempotency_key`` (recorded before calling) to make a re-submission after a
        crash return the first batch instead of creating and charging a second one.
        """
        return self._run(_core.submit_bulk_call(searches, custom, webhook, idempotency_key))

    def get_bulk(self, bulk_id: str) -> Bulk:
        """GET /phone/bulk: progress, and the results once completed."""
        return self._run(_core.get_bulk_call(bulk_id))

    def wait_bulk(
        self, bulk_id: str, *, timeout_s: float | None = None, poll_interval_s: float = 2.0
    ) -> Bulk:
        """Poll a batch until it is completed or failed."""
        poll = Poll(timeout_s, poll_interval_s, max(poll_interval_s, 15.0), f"batch {bulk_id}")
        while not (bulk := self.get_bulk(bulk_id)).done:
            time.sleep(poll.next_delay_s())
        return bulk

    def iter_bulk_results(self, bulk_id: str, *, timeout_s: float | None = None) -> Iterator[PhoneResult]:
        """Wait for a batch, then yield its results in index order."""
        yield from self.wait_bulk(bulk_id, timeout_s=timeout_s).results

    def explain(self, search_id: str) -> dict[str, Any]:
        """GET /phone/single/explain (a Trova extension; Enrow answers 404): why the search got its
        number, or none, as the JSON document the server returns."""
        return self._run(_core.explain_call(search_id))

    def list_bulks(self, *, limit: int = 20, before: str | None = None) -> Json:
        """GET /phone/bulks (Trova extension): the account's batches, newest first, as the JSON body."""
        return self._run(_core.list_bulks_call(limit, before))

    def account(self) -> AccountInfo:
        """GET /account/info: the spendable credits and the account's webhooks."""
        return self._run(_core.account_call())
