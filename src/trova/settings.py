"""Every setting of Trova, typed and read once.

Values come, highest priority first, from the environment (``TROVA_`` prefix), then from the TOML
file named by ``TROVA_CONFIG`` (default ``./trova.toml`` when it exists), then the defaults below.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_WEBHOOK_RETRY_SCHEDULE_S = (5, 300, 1800, 7200, 18000, 36000, 36000)


class SourceConfig(BaseModel):
    """One entry of ``[[sources]]`` in ``trova.toml``; kind-specific keys are kept in ``options``."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str
    kind: str

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


def _config_file() -> Path | None:
    named = os.environ.get("TROVA_CONFIG")
    if named:
        return Path(named)
    default = Path("trova.toml")
    return default if default.exists() else None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TROVA_", extra="ignore", frozen=True)

    database_url: str = "sqlite:///./trova.db"
    redis_url: str | None = None
    """Shared rate-limit storage for several API processes (``redis://host:6379/0``); unset: per process."""
    redis_timeout_s: float = Field(default=0.25, gt=0)
    """Connect/read timeout of a rate-limit call to Redis; past it the request is let through."""
    redis_key_prefix: str = "trova"
    """Prefix of Trova's Redis keys, so several deployments (or test runs) can share one Redis."""

    host: str = "127.0.0.1"
    port: int = 8000
    max_header_bytes: int = Field(default=65_536, ge=1024)
    """Request line plus headers; larger requests get 431 (docs/api.md §16)."""
    client_timeout_s: float = Field(default=30.0, gt=0)
    """Time a client has to send a whole request once it started one; slower gets 408 or a close."""
    max_connections: int = Field(default=1000, ge=1)
    """Open connections per API process; past it a new connection is answered 503 and closed."""
    max_in_flight_requests: int = Field(default=200, ge=1)
    """Requests being answered at once per API process; past it, 503 at once with Retry-After."""

    price_per_phone: int = Field(default=40, ge=0)
    rate_limit_post_per_s: int = Field(default=10, ge=1)
    rate_limit_window_s: int = Field(default=1, ge=1)
    max_body_bytes: int = Field(default=10_000_000, ge=1024)
    max_json_depth: int = Field(default=64, ge=2, le=200)
    """Deepest nesting of arrays and objects in a request body; deeper is 400 ``Invalid JSON input``
    (at most 200, so everything accepted can be written back in results and webhooks)."""
    max_searches_per_batch: int = 3000
    idempotency_ttl_s: int = 24 * 3600

    worker_concurrency: int = Field(default=2, ge=1)
    job_chunk_size: int = Field(default=3000, ge=1)
    job_lease_s: float = Field(default=60.0, gt=0)
    job_max_attempts: int = Field(default=5, ge=1)
    worker_poll_interval_s: float = Field(default=0.5, gt=0)

    webhook_timeout_s: float = Field(default=10.0, gt=0)
    webhook_retry_schedule_s: Annotated[tuple[float, ...], NoDecode] = DEFAULT_WEBHOOK_RETRY_SCHEDULE_S
    webhook_allow_http: bool = False
    webhook_allow_private: bool = False
    webhook_concurrency: int = Field(default=50, ge=1)
    webhook_poll_interval_s: float = Field(default=0.25, gt=0)

    result_retention_days: int = Field(default=90, ge=1)
    audit_retention_days: int = Field(default=365, ge=1)
    retention_interval_s: float = Field(default=3600.0, gt=0)
    """How often ``trova serve``/``trova worker`` deletes expired results and audit entries."""

    sources: tuple[SourceConfig, ...] = (SourceConfig(name="local", kind="local"),)

    log_level: str = "info"

    import_chunk_rows: int = Field(default=10_000, ge=1)
    """Rows per write transaction of ``trova import`` (a kill -9 loses at most one uncommitted chunk)."""
    import_workers: int = Field(default=1, ge=0)
    """Worker processes normalising rows of large imports beside the writer (0: all in one process)."""

    web_data_dir: Path | None = None
    """Where the web app keeps uploaded lead files and its session secret; unset: a ``trova-web``
    directory beside the SQLite database file (``./trova-web`` for PostgreSQL)."""
    web_session_secret: str | None = None
    """Signs the web app's session cookies; unset: generated once and kept in ``web_data_dir``."""
    web_session_max_age_s: int = Field(default=12 * 3600, ge=60)
    web_max_upload_bytes: int = Field(default=25_000_000, ge=1024)
    """The largest lead file the web app accepts (bigger uploads are refused, nothing is charged)."""

    @field_validator("webhook_retry_schedule_s", mode="before")
    @classmethod
    def _split_schedule(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(float(part) for part in value.split(",") if part.strip())
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = _config_file()
        if config_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment and the config file."""
    return Settings()
