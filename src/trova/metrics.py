"""``/metrics`` of one process, with the counters its child processes relay.

The job workers of ``trova serve`` run in a child process (``trova.runtime``): their counters
(searches resolved, jobs processed, the sources' calls and spend, wake-ups) live in that process's
registry. The parent registers one :data:`ChildMetrics` source per child; :func:`exposition` asks
each for its text exposition and merges the ``trova_`` families into its own: counters are summed,
any other sample the parent has itself wins, and the rest is added (but the ``_created``
timestamps). A child that does not answer
within ``timeout`` is left out of that scrape.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

ChildMetrics = Callable[[], bytes | None]
"""The text exposition of a child process's registry, or None when it did not answer in time."""

RELAYED_PREFIX = "trova_"

_children: list[ChildMetrics] = []
_lock = threading.Lock()


def add_child(source: ChildMetrics) -> None:
    """Merge what ``source`` returns into this process's ``/metrics`` until :func:`remove_child`."""
    with _lock:
        _children.append(source)


def remove_child(source: ChildMetrics) -> None:
    with _lock:
        if source in _children:
            _children.remove(source)


def _sample_key(name: str, labels: dict[str, str]) -> tuple[str, frozenset[tuple[str, str]]]:
    return name, frozenset(labels.items())


def merge(own: Iterable[Metric], relayed: Iterable[Metric]) -> list[Metric]:
    """``own`` families with the ``trova_`` families of ``relayed`` merged in (module docstring)."""
    families = {family.name: family for family in own}
    for family in relayed:
        if not family.name.startswith(RELAYED_PREFIX) or family.name.endswith("_created"):
            continue  # the text format splits a counter's creation time into a gauge: the parent's stays
        mine = families.get(family.name)
        if mine is None or not mine.samples:
            families[family.name] = family
            continue
        index = {_sample_key(s.name, s.labels): i for i, s in enumerate(mine.samples)}
        for sample in family.samples:
            at = index.get(_sample_key(sample.name, sample.labels))
            if at is None:
                mine.samples.append(sample)
            elif mine.type == "counter" and sample.name.endswith("_total"):
                mine.samples[at] = sample._replace(value=mine.samples[at].value + sample.value)
    return list(families.values())


class _Merged:
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


def exposition() -> bytes:
    """This process's registry in the text format, with its children's counters merged in."""
    with _lock:
        children = list(_children)
    own = list(REGISTRY.collect())
    for child in children:
        text = child()
        if text:
            own = merge(own, text_string_to_metric_families(text.decode("utf-8")))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Merged(own))
    return generate_latest(registry)
