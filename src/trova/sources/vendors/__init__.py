"""One module per data vendor: its wire format as an :class:`~trova.sources.vendor.Adapter`."""

from __future__ import annotations

from trova.sources.config import KasprOptions, LushaOptions, PdlOptions, ProspeoOptions, VendorOptions
from trova.sources.vendor import Adapter
from trova.sources.vendors.kaspr import KasprAdapter
from trova.sources.vendors.lusha import LushaAdapter
from trova.sources.vendors.pdl import PdlAdapter
from trova.sources.vendors.prospeo import ProspeoAdapter


def adapter_for(options: VendorOptions) -> Adapter:
    """The adapter of a vendor kind, from its options' type."""
    if isinstance(options, PdlOptions):
        return PdlAdapter(options)
    if isinstance(options, ProspeoOptions):
        return ProspeoAdapter(options)
    if isinstance(options, LushaOptions):
        return LushaAdapter(options)
    if isinstance(options, KasprOptions):
        return KasprAdapter(options)
    raise ValueError(f"no adapter for {type(options).__name__}")
