"""Building a finder with a configured waterfall, in this process, against real upstream servers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from trova.finder.service import Finder
from trova.people.models import Answer
from trova.people.normalise import search_from_params
from trova.settings import SourceConfig
from trova.sources import repository as repo
from trova.sources.config import parse_sources
from trova.sources.models import SourceHealth, SourceStats
from trova.sources.waterfall import Waterfall, build_source
from trova.store import Database


def waterfall(
    db: Database,
    *configs: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    public_url: str | None = None,
) -> Waterfall:
    """The waterfall of these ``[[sources]]`` entries, as ``trova.toml`` would configure it (with
    ``TROVA_PUBLIC_URL`` set to ``public_url``)."""
    specs = parse_sources([SourceConfig(**dict(config)) for config in configs])
    sources = {
        spec.name: build_source(spec, environ=environ or {}, db=db, public_url=public_url)
        for spec in specs
        if spec.kind != "local"
    }
    return Waterfall(db, specs, sources)


def finder(
    db: Database,
    *configs: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    public_url: str | None = None,
) -> Finder:
    return Finder(db, upstream=waterfall(db, *configs, environ=environ, public_url=public_url))


def resolve(finder: Finder, searches: Sequence[Mapping[str, object]]) -> list[Answer]:
    return finder.resolve_many([search_from_params(params) for params in searches])


def stats(db: Database, source: str) -> SourceStats:
    with db.read() as conn:
        return repo.stats_since(conn, None).get(source, SourceStats(source))


def health(db: Database, source: str) -> SourceHealth | None:
    with db.read() as conn:
        return repo.health_of(conn, [source]).get(source)
