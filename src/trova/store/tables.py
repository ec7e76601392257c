"""Every table of Trova, in one metadata so Alembic sees the whole schema.

Conventions: timestamps are naive UTC (``store.utcnow``); public ids are UUID strings; credit
amounts are integers; status columns hold the values of the matching ``Literal`` in each domain's
``models.py``. Only repository modules issue SQL against these tables.
"""

from __future__ import annotations

import sqlalchemy as sa

from trova.store.metadata import NAMING as NAMING
from trova.store.metadata import Id
from trova.store.metadata import metadata as metadata
from trova.store.source_tables import source_batches as source_batches  # every table is reached from here
from trova.store.source_tables import source_callbacks as source_callbacks
from trova.store.source_tables import source_calls as source_calls
from trova.store.source_tables import source_health as source_health
from trova.store.source_tables import source_leases as source_leases
from trova.store.source_tables import source_misses as source_misses
from trova.store.source_tables import source_stats as source_stats

# --- accounts -------------------------------------------------------------------------------------

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("key_prefix", sa.String(16), nullable=False),
    sa.Column("sub_credits", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("paygo_credits", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("phone_enabled", sa.Boolean, nullable=False, server_default=sa.text("true")),
    sa.Column("webhook_url", sa.Text, nullable=True),
    sa.Column("webhook_secret", sa.String(100), nullable=False),
    sa.Column("webhook_secret_previous", sa.String(100), nullable=True),
    sa.Column("webhook_secret_rotated_at", sa.DateTime, nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("upstream_budget_per_month", sa.Float, nullable=True),
    sa.CheckConstraint("sub_credits >= 0", name="sub_credits_non_negative"),
    sa.CheckConstraint("paygo_credits >= 0", name="paygo_credits_non_negative"),
)

ledger_entries = sa.Table(
    "ledger_entries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("batch_id", Id, nullable=True, index=True),
    sa.Column("search_id", Id, nullable=True),
    sa.Column("sub_delta", sa.BigInteger, nullable=False),
    sa.Column("paygo_delta", sa.BigInteger, nullable=False),
    sa.Column("note", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("kind", "batch_id", "search_id", name="uq_ledger_entries_kind_batch_search"),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("status_code", sa.Integer, nullable=False),
    sa.Column("response", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False, index=True),
)

readiness_probes = sa.Table(
    "readiness_probes",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("probed_at", sa.DateTime, nullable=False),
)
"""One row per probe of ``GET /readyz``: rewriting it proves that the database takes writes."""

# --- batches and searches ------------------------------------------------------------------------

batches = sa.Table(
    "batches",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False, index=True),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("custom", sa.JSON, nullable=True),
    sa.Column("has_custom", sa.Boolean, nullable=False, server_default=sa.text("false")),
    sa.Column("webhook_url", sa.Text, nullable=True),
    sa.Column("requested", sa.Integer, nullable=False),
    sa.Column("finished", sa.Integer, nullable=False, server_default="0"),
    sa.Column("price", sa.Integer, nullable=False),
    sa.Column("reserved_sub", sa.BigInteger, nullable=False),
    sa.Column("reserved_paygo", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False, index=True),
    sa.Column("completed_at", sa.DateTime, nullable=True),
    # estimated_duration and /metrics sum the work left over ongoing batches only.
    sa.Index("ix_batches_status", "status"),
)

searches = sa.Table(
    "searches",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("batch_id", Id, sa.ForeignKey("batches.id", ondelete="CASCADE"), nullable=False),
    sa.Column("idx", sa.Integer, nullable=False),
    # JSON text written and read with orjson by batches.repository: 3,000 rows per request.
    sa.Column("params", sa.Text, nullable=True),
    sa.Column("custom", sa.Text, nullable=True),
    sa.Column("has_custom", sa.Boolean, nullable=False, server_default=sa.text("false")),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("qualification", sa.String(16), nullable=True),
    sa.Column("number", sa.String(32), nullable=True),
    sa.Column("country", sa.String(2), nullable=True),
    sa.Column("line_type", sa.String(32), nullable=True),
    sa.Column("source_count", sa.Integer, nullable=True),
    sa.Column("source_names", sa.JSON, nullable=True),
    sa.Column("last_seen", sa.String(10), nullable=True),
    sa.Column("person_key", sa.String(64), nullable=True),
    sa.Column("charged", sa.Boolean, nullable=False, server_default=sa.text("false")),
    sa.Column("do_not_call", sa.Boolean, nullable=True),
    sa.Column("reserved_sub", sa.BigInteger, nullable=False),
    sa.Column("reserved_paygo", sa.BigInteger, nullable=False),
    sa.Column("finished_at", sa.DateTime, nullable=True),
    sa.UniqueConstraint("batch_id", "idx", name="uq_searches_batch_idx"),
)

batch_people = sa.Table(
    "batch_people",
    metadata,
    sa.Column("batch_id", Id, sa.ForeignKey("batches.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("person_key", sa.String(64), primary_key=True),
    sa.Column("search_id", Id, nullable=False),
)

# --- jobs ----------------------------------------------------------------------------------------

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("batch_id", Id, sa.ForeignKey("batches.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("first_idx", sa.Integer, nullable=False),
    sa.Column("last_idx", sa.Integer, nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("lease_owner", sa.String(64), nullable=True),
    sa.Column("lease_until", sa.DateTime, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime, nullable=True),
    sa.Index("ix_jobs_status_id", "status", "id"),
)

job_attempts = sa.Table(
    "job_attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.Integer, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("worker_id", sa.String(64), nullable=False),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime, nullable=True),
    sa.Column("outcome", sa.String(16), nullable=True),
    sa.Column("error", sa.Text, nullable=True),
)

search_errors = sa.Table(
    "search_errors",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("search_id", Id, sa.ForeignKey("searches.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("job_id", sa.Integer, nullable=True),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)
"""One row per search that raised during resolution: it was answered not_found (refunded) alone."""

# --- webhooks ------------------------------------------------------------------------------------

webhook_messages = sa.Table(
    "webhook_messages",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False, index=True),
    sa.Column("batch_id", Id, nullable=True, index=True),
    sa.Column("event", sa.String(64), nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.DateTime, nullable=False),
    sa.Column("lease_owner", sa.String(64), nullable=True),
    sa.Column("lease_until", sa.DateTime, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("delivered_at", sa.DateTime, nullable=True),
    sa.Index("ix_webhook_messages_status_next", "status", "next_attempt_at"),
)

webhook_attempts = sa.Table(
    "webhook_attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "message_id",
        sa.String(64),
        sa.ForeignKey("webhook_messages.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("attempted_at", sa.DateTime, nullable=False),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("latency_ms", sa.Integer, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("response_excerpt", sa.Text, nullable=True),
)

# --- contact store -------------------------------------------------------------------------------

people = sa.Table(
    "people",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("linkedin_key", sa.String(255), nullable=True, unique=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    # A person without a profile is a weak group (one name at one company, docs/finder.md §2.6):
    # owner_id is the one person it belongs to (NULL: itself), ambiguous when several could own it.
    # Kept by trova.contacts.owners whenever the people of that name change.
    sa.Column("owner_id", sa.Integer, nullable=True),
    sa.Column("ambiguous", sa.Boolean, nullable=False, server_default=sa.text("false")),
    sa.Index("ix_people_owner", "owner_id"),
)

person_names = sa.Table(
    "person_names",
    metadata,
    sa.Column("person_id", sa.Integer, sa.ForeignKey("people.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("first_key", sa.String(200), primary_key=True),
    sa.Column("last_key", sa.String(200), primary_key=True),
    sa.Index("ix_person_names_last_first", "last_key", "first_key"),
    sa.Index("ix_person_names_first", "first_key", "person_id"),
    sqlite_with_rowid=False,
)

companies = sa.Table(
    "companies",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

company_names = sa.Table(
    "company_names",
    metadata,
    sa.Column("name_key", sa.String(255), primary_key=True),
    sa.Column("company_id", sa.Integer, sa.ForeignKey("companies.id", ondelete="CASCADE"), primary_key=True),
    sa.Index("ix_company_names_company", "company_id"),
    sqlite_with_rowid=False,
)

company_domains = sa.Table(
    "company_domains",
    metadata,
    sa.Column("domain", sa.String(255), primary_key=True),
    sa.Column("company_id", sa.Integer, sa.ForeignKey("companies.id", ondelete="CASCADE"), nullable=False),
    sa.Index("ix_company_domains_company", "company_id"),
    sqlite_with_rowid=False,
)

person_companies = sa.Table(
    "person_companies",
    metadata,
    sa.Column("person_id", sa.Integer, sa.ForeignKey("people.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("company_id", sa.Integer, sa.ForeignKey("companies.id", ondelete="CASCADE"), primary_key=True),
    sa.Index("ix_person_companies_company", "company_id"),
    sqlite_with_rowid=False,
)

phone_observations = sa.Table(
    "phone_observations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "person_id", sa.Integer, sa.ForeignKey("people.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    sa.Column("e164", sa.String(32), nullable=True),
    sa.Column("valid", sa.Boolean, nullable=False),
    sa.Column("line_type", sa.String(32), nullable=True),
    sa.Column("region", sa.String(2), nullable=True),
    sa.Column("raw", sa.Text, nullable=False),
    sa.Column("country_hint", sa.String(2), nullable=True),
    sa.Column("source", sa.String(200), nullable=False),
    sa.Column("observed_at", sa.DateTime, nullable=False),
    sa.Column("imported_at", sa.DateTime, nullable=False),
    sa.Column("dedupe_key", sa.String(64), nullable=False, unique=True),
    sa.Column("do_not_call", sa.Boolean, nullable=True),
    # The finder's shared-line test (numbers held for more than one person) reads only this index.
    sa.Index("ix_phone_observations_e164_person", "e164", "person_id"),
)

# --- privacy -------------------------------------------------------------------------------------

suppressions = sa.Table(
    "suppressions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False),
    # A digest of the normalised key (never the key itself): the list does not keep what it blocks.
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("origin", sa.String(16), nullable=False),
    sa.Column("note", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Index("ix_suppressions_kind", "kind"),
)

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False, index=True),
    sa.Column("batch_id", Id, nullable=True),
    sa.Column("search_id", Id, nullable=True),
    sa.Column("person_key", sa.String(64), nullable=True, index=True),
    sa.Column("number", sa.String(32), nullable=True),
    sa.Column("sources", sa.JSON, nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False, index=True),
)

# Every job step that reveals numbers inserts one row per subject of each, at keys spread over the
# whole table; the table is therefore one b-tree on SQLite (no rowid) keyed by the digest's 32
# bytes rather than its 64 hex characters, so that it grows as little as it can
# (bench/audit_trail.py). The index on ``audit_id`` (rows appended at its end) serves retention.
audit_subjects = sa.Table(
    "audit_subjects",
    metadata,
    sa.Column("subject_key", sa.LargeBinary(32), primary_key=True),
    sa.Column("audit_id", sa.Integer, sa.ForeignKey("audit_events.id", ondelete="CASCADE"), primary_key=True),
    sa.Index("ix_audit_subjects_audit_id", "audit_id"),
    sqlite_with_rowid=False,
)

# --- operators (the web console) --------------------------------------------------------------------

operator_tokens = sa.Table(
    "operator_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("token_prefix", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

operator_actions = sa.Table(
    "operator_actions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("token_id", sa.Integer, sa.ForeignKey("operator_tokens.id"), nullable=True),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("subject", sa.Text, nullable=True),
    sa.Column("detail", sa.JSON, nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False, index=True),
)

optout_requests = sa.Table(
    "optout_requests",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("details", sa.JSON, nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("decided_at", sa.DateTime, nullable=True),
    sa.Index("ix_optout_requests_status", "status"),
)
