"""Python client of the Enrow phone contract, for Trova or ``https://api.enrow.io``.

>>> from trova.client import Client
>>> with Client() as client:                      # TROVA_API_KEY / TROVA_BASE_URL
...     result = client.find_and_wait({"linkedin_url": "https://www.linkedin.com/in/jdoe"})

It imports nothing else of Trova (``tests/client/test_standalone.py`` checks it), so it can be lifted out
as its own package; the server's sources use :func:`retry_after_seconds` from here.
"""

from trova.client._async import AsyncClient
from trova.client._core import DEFAULT_BASE_URL, RetryPolicy, new_idempotency_key, retry_after_seconds
from trova.client._sync import Client
from trova.client.errors import (
    ApiError,
    AuthenticationError,
    ClientError,
    InsufficientCreditsError,
    NotFoundError,
    RateLimitError,
    TransportError,
    WaitTimeout,
)
from trova.client.models import (
    AccountInfo,
    Bulk,
    BulkStats,
    BulkStatus,
    Credits,
    PhoneResult,
    Qualification,
    Submission,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "AccountInfo",
    "ApiError",
    "AsyncClient",
    "AuthenticationError",
    "Bulk",
    "BulkStats",
    "BulkStatus",
    "Client",
    "ClientError",
    "Credits",
    "InsufficientCreditsError",
    "NotFoundError",
    "PhoneResult",
    "Qualification",
    "RateLimitError",
    "RetryPolicy",
    "Submission",
    "TransportError",
    "WaitTimeout",
    "new_idempotency_key",
    "retry_after_seconds",
]
