"""Every setting of Trova, typed and read once.

Values come, highest priority first, from the environment (``TROVA_`` prefix), then from the TOML
file named by ``TROVA_CONFIG`` (default ``./trova.toml`` when it exists), then the defaults below.
A file named by ``TROVA_CONFIG`` that does not exist or does not parse, and a value that does not
fit its type, is a :class:`SettingsError` whose message is one line naming the setting and where it
came from (:func:`get_settings`).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
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


ENV_PREFIX = "TROVA_"
DATABASE_SCHEMES = ("sqlite", "postgresql", "postgres")
SECRET_OPTION_WORDS = ("key", "token", "secret", "password", "auth")


class SettingsError(ValueError):
    """A setting that cannot be used, said in one line (the setting, where it came from, what is accepted)."""


def _config_file() -> Path | None:
    named = os.environ.get("TROVA_CONFIG")
    if named:
        path = Path(named)
        if not path.is_file():
            raise SettingsError(f"TROVA_CONFIG names {named}, which does not exist (or is not a file)")
        return path
    default = Path("trova.toml")
    return default if default.exists() else None


def config_file_values(path: Path | None) -> dict[str, Any]:
    """The top-level keys of the config file, parsed; a file that does not parse is a SettingsError."""
    if path is None:
        return {}
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise SettingsError(f"cannot read {path}: {exc.strerror or exc}") from None


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
    http_protocol: Literal["httptools", "h11"] = "httptools"
    """HTTP/1.1 parser of ``trova serve``: uvicorn's httptools or h11, both with Trova's limits (§16.1)."""
    max_header_bytes: int = Field(default=65_536, ge=1024)
    """Request line plus headers; larger requests get 431 (docs/api.md §16)."""
    client_timeout_s: float = Field(default=30.0, gt=0)
    """Time a client has to send a whole request once it started one; slower gets 408 or a close."""
    keep_alive_timeout_s: int = Field(default=75, ge=1)
    """How long an idle keep-alive connection stays open after an answer. Longer than the clients'
    own reuse windows (httpx 5 s, proxies' upstream pools 60 s): at uvicorn's 5 s a client reusing a
    connection just as the server closed it saw a reset instead of its answer."""
    max_connections: int = Field(default=1000, ge=1)
    """Open connections per API process; past it a new connection is answered 503 and closed."""
    max_in_flight_requests: int = Field(default=200, ge=1)
    """Requests being answered at once per API process; past it, 503 at once with Retry-After."""

    db_busy_timeout_s: float = Field(default=5.0, gt=0)
    """How long ``serve``/``worker`` wait for the SQLite write lock (held by another process) before
    answering 503 with Retry-After (the worker backs off and tries again)."""
    ready_queue_stall_s: float = Field(default=300.0, gt=0)
    """``/readyz`` fails when the oldest claimable job has waited longer than this."""

    price_per_phone: int = Field(default=40, ge=0)
    rate_limit_post_per_s: int = Field(default=10, ge=1)
    rate_limit_window_s: int = Field(default=1, ge=1)
    rate_limit_unauth_per_s: int = Field(default=10, ge=1)
    """Requests without a key or with a wrong one, per client address and second; past it 429
    (shared through Redis when ``redis_url`` is set)."""
    auth_cache_ttl_s: float = Field(default=5.0, ge=0, le=300)
    """How long an API process trusts a key it has just checked, without reading it again (0: never).
    A key rotated, or phone access withdrawn, by another process (the CLI, another API process) may
    still be accepted for this long; in the process that made the change, not at all."""
    max_body_bytes: int = Field(default=10_000_000, ge=1024)
    max_json_depth: int = Field(default=64, ge=2, le=200)
    """Deepest nesting of arrays and objects in a request body; deeper is 400 ``Invalid JSON input``
    (at most 200, so everything accepted can be written back in results and webhooks)."""
    max_searches_per_batch: int = 3000
    idempotency_ttl_s: int = 24 * 3600

    worker_concurrency: int = Field(default=2, ge=1)
    worker_process: bool = True
    """``trova serve``: run the job workers and background loops in a child process of their own
    (False: as threads of the API process, the one-process embedded mode)."""
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
    waterfall: Literal["configured", "cost"] = "configured"
    """The order vendors are asked in: the file's, or by expected cost per found number (finder.md §4.7)."""
    waterfall_explore: float = Field(default=0.05, ge=0, le=1)
    """``cost`` order: the share of searches asked in an exploring order, to keep estimates current."""
    waterfall_stop_at: Literal["found", "mobile"] = "found"
    """``mobile``: keep asking past a landline-only answer for a mobile (never past a valid mobile)."""
    exclude_do_not_call: bool = False
    """A number a source flags do-not-call is never returned: not found, not charged (finder.md §3.8)."""
    public_url: str | None = None
    """Where vendors reach this server (``https://trova.example.com``): asynchronous vendors (``apollo``,
    ``fullenrich``) call back at ``<public_url>/v1/callbacks/<token>``; unset, Apollo is not asked
    (it delivers phones only to a webhook) and FullEnrich is polled."""
    nicknames: bool = True
    """Names that find nobody are read as nicknames of the names they stand for, used when exactly one
    person matches (docs/finder.md §2.7); ``false``: names are compared by key equality only."""

    log_level: str = "info"
    log_format: Literal["text", "json"] = "text"
    """``json``: one JSON object per log line (``trova.api.logs``)."""
    access_log: bool = True
    """One INFO line per answered request (method, path, status, time, request id)."""

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
    web_crash_after_submit: bool = False
    """A test hook: the process exits, as a crash would, right after a web run's batches commit
    and before they are linked to the upload (the crash-recovery test of the web app sets it)."""

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        scheme = value.split(":", 1)[0].split("+", 1)[0].lower()
        if scheme not in DATABASE_SCHEMES:
            raise ValueError("only sqlite:///PATH and postgresql://… databases are supported")
        return value

    @field_validator("webhook_retry_schedule_s", mode="before")
    @classmethod
    def _split_schedule(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return tuple(float(part) for part in value.split(",") if part.strip())
            except ValueError:
                raise ValueError("expected seconds separated by commas, e.g. 5,300,1800") from None
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
            config_file_values(config_file)  # a file that does not parse is a SettingsError
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def origin_of(
    name: str, environ: Mapping[str, str], file_values: Mapping[str, Any], file: Path | None
) -> str:
    """Where setting ``name`` came from: ``environment``, the config file, or ``default``."""
    env_name = ENV_PREFIX + name.upper()
    if any(key.upper() == env_name for key in environ):
        return f"environment ({env_name})"
    if name in file_values:
        return f"file ({file})"
    return "default"


def _describe_invalid(error: ValidationError) -> str:
    file = _config_file()
    file_values = config_file_values(file)
    parts = []
    for problem in error.errors():
        name = str(problem["loc"][0]) if problem["loc"] else "settings"
        origin = origin_of(name, os.environ, file_values, file)
        where = f"{ENV_PREFIX}{name.upper()}" if origin.startswith("environment") else f"{name} in {file}"
        value = problem.get("input")
        shown = f"={value!r}" if isinstance(value, str | int | float) and "url" not in name else ""
        message = str(problem["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}{shown}: {message}")
    return "; ".join(parts)


def load_settings() -> Settings:
    """The settings from the environment and the config file; any problem is one :class:`SettingsError`."""
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsError(_describe_invalid(exc)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment and the config file."""
    return load_settings()


def mask_secret(name: str, value: Any) -> Any:
    """``value`` with passwords in URLs and secret-looking source options replaced by ``****``."""
    if isinstance(value, str) and "://" in value and "@" in value:
        scheme, rest = value.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}:****@{host}" if ":" in credentials else f"{scheme}://****@{host}"
    if isinstance(value, Mapping):
        return {key: mask_secret(str(key), item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [mask_secret(name, item) for item in value]
    if (
        isinstance(value, str)
        and value
        and "prefix" not in name.lower()
        and any(word in name.lower() for word in SECRET_OPTION_WORDS)
    ):
        return "****"
    return value


def effective_settings(settings: Settings) -> list[tuple[str, Any, str]]:
    """(name, value with secrets masked, origin) of every setting, in declaration order."""
    file = _config_file()
    file_values = config_file_values(file)
    rows = []
    dumped = settings.model_dump(mode="json")
    for name in type(settings).model_fields:
        value = mask_secret(name, dumped[name])
        rows.append((name, value, origin_of(name, os.environ, file_values, file)))
    return rows
