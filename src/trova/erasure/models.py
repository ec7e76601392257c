"""Values of the erasure package: what an erasure and a retention pass removed."""

from __future__ import annotations

from dataclasses import dataclass, field

from trova.privacy.models import Suppression


@dataclass(frozen=True, slots=True)
class ErasureReport:
    """What ``trova erase`` removed, counted per kind of record."""

    people: int = 0
    phone_observations: int = 0
    search_results: int = 0
    webhook_payloads: int = 0
    webhook_responses: int = 0
    audit_entries_redacted: int = 0
    suppressions: tuple[Suppression, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class RetentionReport:
    """What one retention pass deleted."""

    batches: int = 0
    webhook_messages: int = 0
    audit_events: int = 0

    @property
    def total(self) -> int:
        return self.batches + self.webhook_messages + self.audit_events
