"""The client's exception tree: one base, one class per answer a caller handles differently."""

from __future__ import annotations


class ClientError(Exception):
    """Base of everything the Trova client raises on purpose."""


class TransportError(ClientError):
    """The server could not be reached (or kept failing) after every retry."""


class WaitTimeout(ClientError):
    """A ``wait`` call gave up before the search or batch finished; it keeps running on the server."""


class ApiError(ClientError):
    """The server answered with an error: ``status`` is the HTTP status, ``message`` its text."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(f"{status}: {message}")


class AuthenticationError(ApiError):
    """401: no key, an invalid key, or an account not allowed to search phones."""


class InsufficientCreditsError(ApiError):
    """402: the account cannot pay for the request; nothing was created or charged."""


class NotFoundError(ApiError):
    """404: unknown id (or another account's id)."""


class RateLimitError(ApiError):
    """429 after every retry; ``retry_after`` is the server's advice in seconds, when it gave one."""

    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(status, message)
        self.retry_after = retry_after
