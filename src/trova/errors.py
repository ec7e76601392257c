"""The one exception tree of Trova.

Our exception hierarchy (an API error shows its HTTP status and the exact ``message`` the API answers
as ``{"message": ...}``; ``{limit}`` is filled in from the settings when raised)::

    * TrovaError
      x ApiError                          500  "Internal server error"
        + BadRequest                      400  "Bad request"
          - MissingPayload                400  "Missing payload"
          - InvalidJson                   400  "Invalid JSON input"
          - MissingId                     400  "Missing id in the query params"
          - InvalidWebhookUrl             400  "Invalid webhook url"
          - InvalidSearch                 400  "Missing mandatory property"
            · MissingMandatoryProperty    400  "Missing mandatory property"
            · InvalidLinkedinUrl          400  "Invalid linkedin_url"
          - NoSearches                    400  "At least 1 phone search must be present in the payload"
          - TooManySearches               400  "Too many searches. Limit is currently at {limit} per batch."
          - InvalidHttpRequest            400  "Invalid HTTP request"
        + Unauthorized                    401  "This apikey is not valid"
          - MissingApiKey                 401  "No apikey found in the x-api-key headers"
          - InvalidApiKey                 401  "This apikey is not valid"
          - PhoneFeatureDisabled          401  "This account is not allowed to use the phone search feature"
        + InsufficientCredits             402  "Insufficient credits"
        + NotFound                        404  "Not found"
          - SearchNotFound                404  "Search not found"
          - BulkNotFound                  404  "Bulk search not found"
          - CallbackNotFound              404  "Unknown callback"
        + CallbackReplayed                409  "Callback already received"
        + IdempotencyConflict             409  "Idempotency-Key already used with a different request"
        + PayloadTooLarge                 413  "Payload too large"
        + RequestTimeout                  408  "Request timeout"
        + RateLimited                     429  "Rate limit exceeded"
        + HeadersTooLarge                 431  "Request header fields too large"
        + ServiceUnavailable              503  "Service temporarily unavailable"
          - DatabaseUnavailable           503  "Service temporarily unavailable"
            · DatabaseBusy                503  "Service temporarily unavailable"
      x OperatorError
        + UsageError
        + ConfigError
          - SourceConfigError
          - DatabaseMissing
        + UnknownAccount
        + AccountExists
        + SuppressionNotFound
        + MessageNotFound
        + InvalidSelector
        + ImportFileRefused
        + ImportFailed
        + TableError
        + DatabaseCopyError
        + AddressRefused

``ApiError`` is everything a client can be told: the API turns one into ``{"message": ...}`` with its
``status_code`` and ``headers`` (``api.app``), and nothing else ever reaches a client (any other
exception, an ``OperatorError`` included, answers 500 ``Internal server error`` and is logged).
``OperatorError`` is what an operator is told, by a CLI command or at start-up (configuration): it has
no HTTP status, the command prints its message on one line and exits non-zero: 2 for a
``UsageError`` (the command line) or a ``ConfigError`` (settings, the database named by them), 1
for the others. Domain code raises
these; only the API layer knows about HTTP responses. ``tests/test_errors.py`` keeps this drawing
equal to the classes below.
"""

from __future__ import annotations

from collections.abc import Mapping


class TrovaError(Exception):
    """Base of every error Trova raises on purpose; ``message`` is its one readable line."""

    message: str = "Internal server error"

    def __init__(self, message: str | None = None) -> None:
        if message is not None:
            self.message = message
        super().__init__(self.message)


# --- what the API answers -------------------------------------------------------------------------


class ApiError(TrovaError):
    """An error the API answers with: ``status_code``, ``{"message": message}`` and ``headers``."""

    status_code: int = 500

    def __init__(self, message: str | None = None, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.headers: dict[str, str] = dict(headers or {})


class BadRequest(ApiError):
    status_code = 400
    message = "Bad request"


class MissingPayload(BadRequest):
    message = "Missing payload"


class InvalidJson(BadRequest):
    message = "Invalid JSON input"


class MissingId(BadRequest):
    message = "Missing id in the query params"


class InvalidWebhookUrl(BadRequest):
    message = "Invalid webhook url"


class InvalidSearch(BadRequest):
    """A search that identifies nobody; ``reason`` is the spec's message for a single search."""

    reason = "Missing mandatory property"
    message = reason

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.reason)

    def in_batch(self, position: int, total: int) -> BadRequest:
        """The bulk form of this error: ``<reason> on search n°<1-based position> of <total>``."""
        return BadRequest(f"{self.reason} on search n°{position} of {total}")


class MissingMandatoryProperty(InvalidSearch):
    reason = "Missing mandatory property"
    message = reason


class InvalidLinkedinUrl(InvalidSearch):
    reason = "Invalid linkedin_url"
    message = reason


class NoSearches(BadRequest):
    message = "At least 1 phone search must be present in the payload"


class TooManySearches(BadRequest):
    """More searches than ``Settings.max_searches_per_batch``; the message quotes that limit."""

    message = "Too many searches. Limit is currently at {limit} per batch."

    def __init__(self, limit: int) -> None:
        super().__init__(type(self).message.format(limit=limit))


class Unauthorized(ApiError):
    status_code = 401
    message = "This apikey is not valid"


class MissingApiKey(Unauthorized):
    message = "No apikey found in the x-api-key headers"


class InvalidApiKey(Unauthorized):
    message = "This apikey is not valid"


class PhoneFeatureDisabled(Unauthorized):
    message = "This account is not allowed to use the phone search feature"


class InsufficientCredits(ApiError):
    status_code = 402
    message = "Insufficient credits"


class NotFound(ApiError):
    status_code = 404
    message = "Not found"


class SearchNotFound(NotFound):
    message = "Search not found"


class BulkNotFound(NotFound):
    message = "Bulk search not found"


class CallbackNotFound(NotFound):
    message = "Unknown callback"


class CallbackReplayed(ApiError):
    status_code = 409
    message = "Callback already received"


class IdempotencyConflict(ApiError):
    status_code = 409
    message = "Idempotency-Key already used with a different request"


class PayloadTooLarge(ApiError):
    status_code = 413
    message = "Payload too large"


class InvalidHttpRequest(BadRequest):
    """A request the HTTP parser refused (malformed framing, control bytes in headers); the
    connection is closed after the answer."""

    message = "Invalid HTTP request"


class RequestTimeout(ApiError):
    """The client did not send its request line and headers within ``TROVA_CLIENT_TIMEOUT_S``."""

    status_code = 408
    message = "Request timeout"


class RateLimited(ApiError):
    status_code = 429
    message = "Rate limit exceeded"


class HeadersTooLarge(ApiError):
    """Request line and headers over ``TROVA_MAX_HEADER_BYTES``."""

    status_code = 431
    message = "Request header fields too large"


class ServiceUnavailable(ApiError):
    """The server cannot take the request now (overloaded, database locked or unwritable); it is
    sent with ``Retry-After``."""

    status_code = 503
    message = "Service temporarily unavailable"


class DatabaseUnavailable(ServiceUnavailable):
    """The database refused the work for a reason that may pass (disk full, file read-only or gone,
    server down): the client is told to come back later, and ``reason`` (the driver's own words)
    goes to the log, never to the client."""

    retry_after_s: int = 5

    def __init__(self, reason: str) -> None:
        super().__init__(headers={"Retry-After": str(self.retry_after_s)})
        self.reason = reason


class DatabaseBusy(DatabaseUnavailable):
    """Another writer held the database's write lock for longer than ``TROVA_DB_BUSY_TIMEOUT_S``."""

    retry_after_s = 1


# --- what an operator is told (CLI commands, configuration): no HTTP status -----------------------


class OperatorError(TrovaError):
    """An operator's command or configuration cannot be carried out; never an API answer."""

    message = "The command failed"


class UsageError(OperatorError):
    """A command line that cannot be carried out as written (an option value, a --map); exit status 2."""

    message = "Invalid command line"


class ConfigError(OperatorError):
    """A setting, the config file or the database they name cannot be used; exit status 2."""

    message = "Invalid configuration"


class DatabaseMissing(ConfigError):
    """A command that only reads or changes an existing database found none where the settings point."""

    message = "No database"


class UnknownAccount(OperatorError):
    """Raised by operator commands naming an account that does not exist."""

    message = "No such account"


class AccountExists(OperatorError):
    """Raised by ``trova accounts create`` when the name is taken."""

    message = "An account with this name already exists"


class SuppressionNotFound(OperatorError):
    """Raised by ``trova suppress remove`` for an id that is not on the suppression list."""

    message = "No such suppression entry"


class MessageNotFound(OperatorError):
    """Raised by the ``trova webhooks`` commands for a message id that does not exist."""

    message = "No such webhook message"


class InvalidSelector(OperatorError):
    """Raised by the privacy commands for a selector that names no person and no number."""

    message = "Give --linkedin URL, --phone NUMBER, or --first and --last with --domain or --company"


class ImportFileRefused(OperatorError):
    """Raised by the contact import for a file that is not CSV or JSON Lines text; nothing is written."""

    message = "Not a CSV or JSON Lines file"


class ImportFailed(OperatorError):
    """Raised by the contact import when a file could not be read to its end (an I/O error, a reader
    process that died); every chunk committed before it stays stored, and a re-run completes it."""

    message = "The import could not finish"


class TableError(OperatorError):
    """Raised by ``trova bulk`` for a lead file (or a ``--map``) that cannot be read as a table; one
    readable line, with the line number if any."""

    message = "Not a readable lead file"


class SourceConfigError(ConfigError):
    """A ``[[sources]]`` entry of ``trova.toml`` that cannot be used; the message names the entry."""

    message = "Invalid source configuration"


class DatabaseCopyError(OperatorError):
    """Raised by ``trova db copy``: a target that is not empty, a source that is not a Trova
    database, or a copy whose verification failed (the target is then left untouched)."""

    message = "The database copy failed"


class AddressRefused(OperatorError):
    """Webhook delivery refused: every address of the host is non-public. Final, never retried; the
    ``reason`` is recorded as the attempt's error that ``trova webhooks`` shows the operator."""

    message = "Refused to connect to a non-public address"

    @property
    def reason(self) -> str:
        """Why the delivery was refused (the message)."""
        return self.message
