"""What ``trova sources list|stats|reset`` show and do: configuration, health and counters per source."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy.engine import Connection

from trova.sources import repository as repo
from trova.sources.config import (
    CommonOptions,
    EnrowOptions,
    HttpOptions,
    SourceSpec,
    VendorOptions,
    missing_secrets,
    not_asked,
)
from trova.sources.guard import gate
from trova.sources.models import Health, SourceHealth, SourceStats


@dataclass(frozen=True, slots=True)
class SourceView:
    """One configured source as ``trova sources list`` shows it (never a secret)."""

    position: int
    name: str
    kind: str
    target: str
    settings: str
    enabled: bool
    health: Health | str
    detail: str
    remembered_misses: int
    last_success_at: dt.datetime | None
    last_error: str | None


def target_of(spec: SourceSpec) -> str:
    """Where the source is reached, reduced to scheme, host and path (no query, no templates' secrets)."""
    if isinstance(spec.options, EnrowOptions | VendorOptions):
        return spec.options.base_url
    if isinstance(spec.options, HttpOptions):
        parts = urlsplit(spec.options.url)
        return f"{spec.options.method} {parts.scheme}://{parts.netloc}{parts.path}"
    return "contact store"


def settings_of(spec: SourceSpec) -> str:
    """The options that shape the source's behaviour, in a few words."""
    options = spec.options
    if not isinstance(options, CommonOptions):
        return ""
    parts = []
    if isinstance(options, EnrowOptions):
        parts.append(f"≤{options.max_per_call:,} per call, poll {options.poll_interval_s:g}s")
    if isinstance(options, HttpOptions):
        rate = f"{options.rate_limit_per_s:g}/s" if options.rate_limit_per_s else "no rate limit"
        parts.append(f"{rate}, {options.concurrency} at once")
    parts.append(f"timeout {options.timeout_s:g}s, {options.retries} retries")
    parts.append(f"deadline {options.deadline_s:g}s")
    parts.append(f"misses kept {options.negative_ttl_days:g}d")
    return "; ".join(parts)


def _state(
    spec: SourceSpec,
    health: SourceHealth | None,
    now: dt.datetime,
    environ: Mapping[str, str] | None,
    public_url: str | None,
) -> tuple[Health | str, str]:
    if spec.kind == "local":
        return "ok", ""
    if not spec.enabled:
        return "disabled", ""
    missing = missing_secrets(spec, environ)
    if missing:
        return "misconfigured", f"not set: {', '.join(missing)}"
    if reason := not_asked(spec, public_url):
        return "not asked", reason.removeprefix("not asked: ")
    assert isinstance(spec.options, CommonOptions)
    state = gate(health, spec.options, now)
    if health is None or state == "ok":
        return state, ""
    if state == "disabled":
        return state, health.disabled_reason or ""
    until = {
        "exhausted": (health.exhausted_at or now) + dt.timedelta(seconds=spec.options.exhausted_recheck_s),
        "backing_off": health.backoff_until,
        "open": health.open_until,
    }.get(state)
    return state, f"until {until:%Y-%m-%d %H:%M:%S}" if until else ""


def list_sources(
    conn: Connection,
    specs: Sequence[SourceSpec],
    now: dt.datetime,
    environ: Mapping[str, str] | None = None,
    *,
    public_url: str | None = None,
) -> list[SourceView]:
    """Every configured source in waterfall order, with its state: ``not asked`` says why a vendor
    is never asked with this ``public_url`` (``TROVA_PUBLIC_URL``)."""
    healths = repo.health_of(conn, [spec.name for spec in specs])
    misses = repo.count_misses(conn, now)
    views = []
    for spec in specs:
        health = healths.get(spec.name)
        state, detail = _state(spec, health, now, environ, public_url)
        views.append(
            SourceView(
                position=spec.position + 1,
                name=spec.name,
                kind=spec.kind,
                target=target_of(spec),
                settings=settings_of(spec),
                enabled=spec.enabled,
                health=state,
                detail=detail,
                remembered_misses=misses.get(spec.name, 0),
                last_success_at=health.last_success_at if health else None,
                last_error=health.last_error if health else None,
            )
        )
    return views


def stats(conn: Connection, specs: Sequence[SourceSpec], since: dt.date | None) -> list[SourceStats]:
    """The counters of every configured upstream (in waterfall order), then of any source no longer
    configured that still has counters in the period."""
    summed = repo.stats_since(conn, since)
    names = [spec.name for spec in specs if spec.kind != "local"]
    names += sorted(set(summed) - set(names))
    return [summed.get(name, SourceStats(name)) for name in names]


def spend(
    conn: Connection, specs: Sequence[SourceSpec], since: dt.date | None, *, by_country: bool = False
) -> list[repo.CallStats]:
    """Asked, billed, found and spend from the vendor call rows, per source in waterfall order (and
    per country of the number found when ``by_country``; misses have no country)."""
    start = dt.datetime(since.year, since.month, since.day) if since else None
    rows = repo.call_stats(conn, start, by_country=by_country)
    order = {spec.name: spec.position for spec in specs}
    return sorted(rows, key=lambda row: (order.get(row.source, len(order)), row.source, row.country or "~"))


def reset(conn: Connection, source: str, now: dt.datetime, *, forget_misses: bool = False) -> None:
    """Close the breaker and clear exhaustion and backoff (after credits were topped up, say)."""
    health = repo.lock_health(conn, source, now)
    repo.save_health(
        conn,
        SourceHealth(
            source=source,
            last_error=health.last_error,
            last_error_at=health.last_error_at,
            last_success_at=health.last_success_at,
        ),
        now,
    )
    if forget_misses:
        repo.forget_source_misses(conn, source)


def account_spend(conn: Connection, account_id: int, now: dt.datetime) -> float:
    """What vendors billed for the account's searches this calendar month (UTC)."""
    return repo.account_spend_since(conn, account_id, dt.datetime(now.year, now.month, 1))
