"""The one exception tree of Trova.

Every error a client can see is a :class:`TrovaError` carrying an HTTP status and the exact message
text of the spec; the API turns it into ``{"message": ...}`` and nothing else ever reaches a client.
Domain code raises these; only the API layer knows about HTTP responses.
"""

from __future__ import annotations

from collections.abc import Mapping


class TrovaError(Exception):
    """Base of every error Trova raises on purpose."""

    status_code: int = 500
    message: str = "Internal server error"

    def __init__(self, message: str | None = None, *, headers: Mapping[str, str] | None = None) -> None:
        if message is not None:
            self.message = message
        self.headers: dict[str, str] = dict(headers or {})
        super().__init__(self.message)


class BadRequest(TrovaError):
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

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.reason)

    def in_batch(self, position: int, total: int) -> BadRequest:
        """The bulk form of this error: ``<reason> on search n°<1-based position> of <total>``."""
        return BadRequest(f"{self.reason} on search n°{position} of {total}")


class MissingMandatoryProperty(InvalidSearch):
    reason = "Missing mandatory property"


class InvalidLinkedinUrl(InvalidSearch):
    reason = "Invalid linkedin_url"


class NoSearches(BadRequest):
    message = "At least 1 phone search must be present in the payload"


class TooManySearches(BadRequest):
    message = "Too many searches. Limit is currently at 3000 per batch."


class Unauthorized(TrovaError):
    status_code = 401
    message = "This apikey is not valid"


class MissingApiKey(Unauthorized):
    message = "No apikey found in the x-api-key headers"


class InvalidApiKey(Unauthorized):
    message = "This apikey is not valid"


class PhoneFeatureDisabled(Unauthorized):
    message = "This account is not allowed to use the phone search feature"


class InsufficientCredits(TrovaError):
    status_code = 402
    message = "Insufficient credits"


class NotFound(TrovaError):
    status_code = 404
    message = "Not found"


class SearchNotFound(NotFound):
    message = "Search not found"


class BulkNotFound(NotFound):
    message = "Bulk search not found"


class IdempotencyConflict(TrovaError):
    status_code = 409
    message = "Idempotency-Key already used with a different request"


class PayloadTooLarge(TrovaError):
    status_code = 413
    message = "Payload too large"


class RateLimited(TrovaError):
    status_code = 429
    message = "Rate limit exceeded"


class UnknownAccount(TrovaError):
    """Raised by operator commands naming an account that does not exist."""

    status_code = 404
    message = "No such account"


class AccountExists(TrovaError):
    """Raised by ``trova accounts create`` when the name is taken."""

    status_code = 409
    message = "An account with this name already exists"


class ImportFileRefused(BadRequest):
    """Raised by the contact import for a file that is not CSV or JSON Lines text; nothing is written."""

    message = "Not a CSV or JSON Lines file"


class ImportFailed(TrovaError):
    """Raised by the contact import when a file could not be read to its end (an I/O error, a reader
    process that died); every chunk committed before it stays stored, and a re-run completes it."""

    message = "The import could not finish"


class SourceConfigError(TrovaError):
    """A ``[[sources]]`` entry of ``trova.toml`` that cannot be used; the message names the entry."""

    status_code = 500
    message = "Invalid source configuration"


class InvalidSelector(BadRequest):
    """Raised by the privacy commands for a selector that names no person and no number."""

    message = "Give --linkedin URL, --phone NUMBER, or --first and --last with --domain or --company"


class SuppressionNotFound(NotFound):
    """Raised by ``trova suppress remove`` for an id that is not on the suppression list."""

    message = "No such suppression entry"


class DatabaseCopyError(TrovaError):
    """Raised by ``trova db copy``: a target that is not empty, a source that is not a Trova
    database, or a copy whose verification failed (the target is then left untouched)."""

    message = "The database copy failed"
