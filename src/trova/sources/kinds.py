"""The upstream client of each source kind (``build_source``), built lazily: a kind's module, and
the libraries it needs, are imported only when such a source is configured."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trova.sources.config import SourceSpec
from trova.sources.models import Source
from trova.store import Database


def build_source(
    spec: SourceSpec,
    environ: Mapping[str, str] | None = None,
    *,
    db: Database | None = None,
    public_url: str | None = None,
    **kwargs: Any,
) -> Source:
    """The upstream client of one configured source (not for ``local``); ``db`` and ``public_url``
    serve the kinds that receive callbacks (``apollo``, ``fullenrich``)."""
    from trova.sources.config import (
        ApolloOptions,
        EnrowOptions,
        FullEnrichOptions,
        HttpOptions,
        VendorOptions,
    )
    from trova.sources.enrow import EnrowSource
    from trova.sources.http import HttpSource
    from trova.sources.vendors import adapter_for

    if isinstance(spec.options, ApolloOptions):
        from trova.sources.vendors.apollo import ApolloSource

        return ApolloSource(spec.name, spec.options, db=db, public_url=public_url, environ=environ, **kwargs)
    if isinstance(spec.options, FullEnrichOptions):
        from trova.sources.vendors.fullenrich import FullEnrichSource

        return FullEnrichSource(
            spec.name, spec.options, db=db, public_url=public_url, environ=environ, **kwargs
        )
    if isinstance(spec.options, VendorOptions):
        from trova.sources.vendor import VendorSource

        return VendorSource(spec.name, spec.options, adapter_for(spec.options), environ=environ, **kwargs)
    if isinstance(spec.options, EnrowOptions):
        return EnrowSource(spec.name, spec.options, environ=environ, **kwargs)
    if isinstance(spec.options, HttpOptions):
        return HttpSource(spec.name, spec.options, environ=environ, **kwargs)
    raise ValueError(f"source {spec.name!r} of kind {spec.kind!r} has no upstream client")
