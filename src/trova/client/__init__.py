"""Python client of the Enrow phone contract, for Trova or ``https://api.enrow.io``.

>>> from trova.client import Client
>>> with Client() as client:                      # TROVA_API_KEY / TROVA_BASE_URL
...     result = client.find_and_wait({"linkedin_url": "https://www.linkedin.com/in/jdoe"})
"""

from trova.client._async import AsyncClient
from trova.client._core import DEFAULT_BASE_URL, RetryPolicy
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
]
