"""The tables of the upstream sources (statistics, health, caches, vendor batches and calls, leases),
in the one metadata of :mod:`trova.store.tables`, which re-exports them."""

from __future__ import annotations

import sqlalchemy as sa

from trova.store.metadata import metadata

source_stats = sa.Table(
    "source_stats",
    metadata,
    sa.Column("source", sa.String(200), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("requests", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("searches", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("hits", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("misses", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("rejected", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("errors", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("fell_through", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("skipped", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("cached_misses", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("credits_spent", sa.BigInteger, nullable=False, server_default="0"),
)

source_health = sa.Table(
    "source_health",
    metadata,
    sa.Column("source", sa.String(200), primary_key=True),
    sa.Column("consecutive_failures", sa.Integer, nullable=False, server_default="0"),
    sa.Column("open_until", sa.DateTime, nullable=True),
    sa.Column("exhausted_at", sa.DateTime, nullable=True),
    sa.Column("backoff_until", sa.DateTime, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("last_error_at", sa.DateTime, nullable=True),
    sa.Column("last_success_at", sa.DateTime, nullable=True),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    # A vendor that refused the key: skipped until ``trova sources reset`` (the reason is shown).
    sa.Column("disabled_at", sa.DateTime, nullable=True),
    sa.Column("disabled_reason", sa.Text, nullable=True),
)

source_misses = sa.Table(
    "source_misses",
    metadata,
    sa.Column("source", sa.String(200), primary_key=True),
    sa.Column("search_key", sa.String(64), primary_key=True),
    sa.Column("expires_at", sa.DateTime, nullable=False, index=True),
)

# An upstream batch still running at the step's deadline: collected by a later step (already paid).
source_batches = sa.Table(
    "source_batches",
    metadata,
    sa.Column("upstream_id", sa.String(100), primary_key=True),
    sa.Column("source", sa.String(200), nullable=False),
    sa.Column("searches", sa.JSON, nullable=False),
    sa.Column("submitted_at", sa.DateTime, nullable=False),
    sa.Column("closed_at", sa.DateTime, nullable=True),
    sa.Column("outcome", sa.String(16), nullable=True),
    sa.Index("ix_source_batches_source_open", "source", "closed_at"),
)

# One row per upstream call (per search asked of a vendor): what it cost and what came of it.
source_calls = sa.Table(
    "source_calls",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(200), nullable=False),
    sa.Column("search_key", sa.String(64), nullable=False),
    sa.Column("request_id", sa.String(100), nullable=True),
    sa.Column("billed", sa.Boolean, nullable=False),
    sa.Column("cost", sa.Float, nullable=False, server_default="0"),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("latency_ms", sa.Integer, nullable=False, server_default="0"),
    sa.Column("country", sa.String(2), nullable=True),
    sa.Column("called_at", sa.DateTime, nullable=False),
    sa.Column("search_country", sa.String(2), nullable=True),
    sa.Column("account_id", sa.Integer, nullable=True),
    sa.Index("ix_source_calls_source_called_at", "source", "called_at"),
    sa.Index("ix_source_calls_account_called_at", "account_id", "called_at"),
    sa.Index("ix_source_calls_source_search_country", "source", "search_country"),
    sa.Index("ix_source_calls_search_key", "search_key"),
)

# "This worker is asking this source about this person now": others wait instead of paying again.
source_leases = sa.Table(
    "source_leases",
    metadata,
    sa.Column("source", sa.String(200), primary_key=True),
    sa.Column("search_key", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(64), nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
)

# A vendor callback Trova waits for (Apollo's phone reveal, FullEnrich's enrichment): one row per
# request sent with a ``webhook_url``, keyed by the SHA-256 of the URL's unguessable token; the
# payload is written here before the callback is answered 200, and read by the search waiting for it
# (or a later step).
source_callbacks = sa.Table(
    "source_callbacks",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("source", sa.String(200), nullable=False),
    sa.Column("request_id", sa.String(100), nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("payload", sa.JSON, nullable=True),
    sa.Column("received_at", sa.DateTime, nullable=True),
)
