"""The options of each source kind, validated from ``[[sources]]`` in ``trova.toml``.

Secrets never appear in the file: ``api_key_env`` names an environment variable, and ``${NAME}``
in an ``http`` source's URL, headers or body is replaced by that variable when a request is built.
Unknown keys are refused, so a typo (``deadline = 5``) is an error rather than a silent default.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from trova.errors import SourceConfigError
from trova.settings import Settings, SourceConfig
from trova.sources.models import SourceKind

ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
ENROW_MAX_PER_CALL = 3000
"""POST /phone/bulk accepts at most 3,000 searches."""


class CommonOptions(BaseModel):
    """What every upstream accepts: caching of misses, timeouts, retries and the breaker."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    negative_ttl_days: float = Field(default=30, ge=0)
    """A search this source answered with nothing is not asked again for this long (0: always ask)."""
    timeout_s: float = Field(default=10.0, gt=0)
    """One HTTP request (connect + answer)."""
    deadline_s: float = Field(default=300.0, gt=0)
    """The whole step for one chunk: after it, pending searches fall through to the next source."""
    retries: int = Field(default=2, ge=0, le=10)
    """Retries of a request that timed out or got a 5xx, with exponential backoff and jitter."""
    backoff_base_s: float = Field(default=0.5, gt=0)
    backoff_cap_s: float = Field(default=10.0, gt=0)
    max_retry_after_s: float = Field(default=60.0, ge=0)
    """A 429's ``Retry-After`` is honoured up to this long before the source is skipped instead."""
    circuit_failures: int = Field(default=5, ge=1)
    """Consecutive failed steps that open the breaker."""
    circuit_open_s: float = Field(default=60.0, gt=0)
    exhausted_recheck_s: float = Field(default=3600.0, gt=0)
    """After a 402 the source is skipped; it is tried again once this long has passed."""


class LocalOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EnrowOptions(CommonOptions):
    """Any Enrow-compatible API (Enrow itself, or another Trova)."""

    base_url: str
    api_key_env: str
    max_per_call: int = Field(default=ENROW_MAX_PER_CALL, ge=1, le=ENROW_MAX_PER_CALL)
    poll_interval_s: float = Field(default=2.0, gt=0)
    timeout_s: float = Field(default=30.0, gt=0)
    deadline_s: float = Field(default=900.0, gt=0)
    collect_within_s: float = Field(default=86400.0, ge=0)
    """An upstream batch still running at the deadline is collected by later steps for this long."""

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("base_url must be an http(s) URL")
        return value.rstrip("/")


class HttpOptions(CommonOptions):
    """A declarative JSON provider: one request per search, built from templates.

    ``url`` and string values of ``body`` may hold ``{field}`` placeholders (``first_name``,
    ``last_name``, ``full_name``, ``company_domain``, ``company_name``, ``linkedin_url``,
    ``linkedin_key``); ``numbers_path`` (``data.phones[*].number``) leads to the numbers in the
    answer, ``type_path``/``date_path`` to their type and date (same ``[*]`` positions).
    """

    method: Literal["GET", "POST", "PUT"] = "GET"
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    body: dict[str, Any] | None = None
    numbers_path: str
    type_path: str | None = None
    date_path: str | None = None
    default_country: str | None = Field(default=None, min_length=2, max_length=2)
    """Region used to read numbers the provider writes in national form."""
    not_found_statuses: tuple[int, ...] = (404,)
    rate_limit_per_s: float | None = Field(default=None, gt=0)
    concurrency: int = Field(default=4, ge=1, le=256)
    credits_per_request: int = Field(default=0, ge=0)
    deadline_s: float = Field(default=120.0, gt=0)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://", value):
            raise ValueError("url must start with http:// or https://")
        return value

    @model_validator(mode="after")
    def _paths(self) -> HttpOptions:
        from trova.sources.jsonpath import parse_path

        for path in (self.numbers_path, self.type_path, self.date_path):
            if path is not None:
                parse_path(path)
        return self


class VendorOptions(CommonOptions):
    """A data vendor with a kind of its own (``pdl``, ``prospeo``, ``lusha``, ``kaspr``): one request
    per search, paced and bounded like ``http``, each request a ``source_calls`` row with its cost."""

    api_key_env: str
    base_url: str = ""
    """The vendor's public endpoint by default; set it to reach a proxy (or a test's fake)."""
    price: float = Field(default=1.0, ge=0)
    """What one billed answer costs, in the vendor's unit (credits, cents): accounting and ordering."""
    rate_limit_per_s: float | None = Field(default=None, gt=0)
    concurrency: int = Field(default=4, ge=1, le=256)
    default_country: str | None = Field(default=None, min_length=2, max_length=2)
    """Region used to read numbers the vendor writes in national form."""
    budget_per_day: float | None = Field(default=None, ge=0)
    budget_per_month: float | None = Field(default=None, ge=0)
    """Spend (in ``price`` units, UTC day / calendar month) past which the source is skipped."""
    deadline_s: float = Field(default=120.0, gt=0)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("base_url must be an http(s) URL")
        return value.rstrip("/")


class PdlOptions(VendorOptions):
    base_url: str = "https://api.peopledatalabs.com"
    min_likelihood: int = Field(default=6, ge=1, le=10)
    """PDL answers a match only at or above this likelihood (its own 1-10 score)."""


class ProspeoOptions(VendorOptions):
    base_url: str = "https://api.prospeo.io"


class LushaOptions(VendorOptions):
    base_url: str = "https://api.lusha.com"


class KasprOptions(VendorOptions):
    base_url: str = "https://api.developers.kaspr.io"
    accept_version: str = "v2.0"


class FullEnrichOptions(VendorOptions):
    """FullEnrich's asynchronous bulk enrichment (submitted, then called back at ``TROVA_PUBLIC_URL``
    or polled; ``sources.vendors.fullenrich``)."""

    base_url: str = "https://app.fullenrich.com"
    poll_interval_s: float = Field(default=5.0, gt=0)
    """The first wait between two polls; each next one is 1.5 times longer, up to ``poll_max_s``.
    Called back, the first poll (the fallback) comes after this wait."""
    wait_interval_s: float = Field(default=0.2, gt=0)
    """Called back: the first wait between two reads of the callback row; each next one 1.5 times
    longer, up to 2 s."""
    poll_max_s: float = Field(default=30.0, gt=0)
    deadline_s: float = Field(default=300.0, gt=0)
    collect_within_s: float = Field(default=86400.0, ge=0)
    """An enrichment still running at the deadline is collected by later steps for this long."""


class ApolloOptions(VendorOptions):
    """Apollo's People Match with ``reveal_phone_number``: the phones come later, by callback at
    ``TROVA_PUBLIC_URL`` (``sources.vendors.apollo``)."""

    base_url: str = "https://api.apollo.io"
    deadline_s: float = Field(default=120.0, gt=0)
    """How long a search waits for its callback before it is reported not found (the reveal is
    still collected by later steps for ``collect_within_s``)."""
    wait_interval_s: float = Field(default=0.2, gt=0)
    """The first wait between two reads of the callback row; each next one 1.5 times longer, up to 2 s."""
    collect_within_s: float = Field(default=86400.0, ge=0)


KIND_OPTIONS: Mapping[str, type[BaseModel]] = {
    "local": LocalOptions,
    "enrow": EnrowOptions,
    "http": HttpOptions,
    "pdl": PdlOptions,
    "prospeo": ProspeoOptions,
    "lusha": LushaOptions,
    "kaspr": KasprOptions,
    "fullenrich": FullEnrichOptions,
    "apollo": ApolloOptions,
}


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """One configured source, its options validated; ``position`` is its place in the waterfall."""

    name: str
    kind: SourceKind
    options: BaseModel
    position: int

    @property
    def enabled(self) -> bool:
        return bool(getattr(self.options, "enabled", True))


def env_references(value: Any) -> set[str]:
    """Names of the ``${ENV}`` variables a template (string, list or object) refers to."""
    if isinstance(value, str):
        return set(ENV_REFERENCE.findall(value))
    if isinstance(value, Mapping):
        return {name for item in value.values() for name in env_references(item)}
    if isinstance(value, list | tuple):
        return {name for item in value for name in env_references(item)}
    return set()


def secret(name: str, environ: Mapping[str, str] | None = None) -> str:
    """The value of the environment variable ``name`` (a source's ``api_key_env``), read from
    ``environ`` or else the process's environment; empty when it is not set."""
    return (os.environ if environ is None else environ).get(name, "")


APOLLO_NEEDS_CALLBACKS = (
    "not asked: TROVA_PUBLIC_URL is not set, and Apollo delivers phone numbers only to a webhook_url "
    "(mandatory with reveal_phone_number=true: https://docs.apollo.io/reference/people-enrichment)"
)


def not_asked(spec: SourceSpec, public_url: str | None) -> str | None:
    """Why this source is never asked in this configuration (``apollo`` without ``TROVA_PUBLIC_URL``),
    or None; ``trova sources list|stats`` and ``trova explain`` say it."""
    return APOLLO_NEEDS_CALLBACKS if isinstance(spec.options, ApolloOptions) and not public_url else None


def missing_secrets(spec: SourceSpec, environ: Mapping[str, str] | None = None) -> list[str]:
    """The environment variables this source needs that are not set."""
    environ = os.environ if environ is None else environ
    wanted: set[str] = set()
    if isinstance(spec.options, EnrowOptions | VendorOptions):
        wanted.add(spec.options.api_key_env)
    if isinstance(spec.options, HttpOptions):
        wanted |= env_references([spec.options.url, spec.options.headers, spec.options.body])
    return sorted(name for name in wanted if not environ.get(name))


def _describe(error: ValidationError) -> str:
    parts = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"]) or "options"
        parts.append(f"{where}: {problem['msg']}")
    return "; ".join(parts)


def parse_one(config: SourceConfig, position: int) -> SourceSpec:
    """Validate one ``[[sources]]`` entry; ``SourceConfigError`` names the entry and the problem."""
    model = KIND_OPTIONS.get(config.kind)
    if model is None:
        kinds = ", ".join(KIND_OPTIONS)
        raise SourceConfigError(
            f"source {config.name!r}: unknown kind {config.kind!r} (expected one of {kinds})"
        )
    try:
        options = model.model_validate(config.options)
    except ValidationError as error:
        raise SourceConfigError(f"source {config.name!r} ({config.kind}): {_describe(error)}") from None
    return SourceSpec(config.name, config.kind, options, position)  # type: ignore[arg-type]


def parse_sources(configs: Iterable[SourceConfig]) -> list[SourceSpec]:
    """Every configured source in waterfall order; ``local`` goes first when it is not listed."""
    specs = [parse_one(config, position) for position, config in enumerate(configs)]
    names = [spec.name for spec in specs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise SourceConfigError(f"source names must be unique: {', '.join(duplicates)} repeated")
    if sum(spec.kind == "local" for spec in specs) > 1:
        raise SourceConfigError("only one source may be of kind 'local'")
    if not any(spec.kind == "local" for spec in specs):
        specs.insert(0, SourceSpec("local", "local", LocalOptions(), -1))
    return [SourceSpec(s.name, s.kind, s.options, index) for index, s in enumerate(specs)]


def configured_sources(settings: Settings) -> list[SourceSpec]:
    """The waterfall of ``settings`` (``Settings.sources``)."""
    return parse_sources(settings.sources)
