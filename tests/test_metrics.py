"""What a child process relays is merged into the parent's ``/metrics``: counters summed, the
parent's own other samples kept, non-Trova and ``_created`` families of the child left out."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from trova import metrics


def test_counters_are_summed_and_the_parents_own_samples_win() -> None:
    parent, child = CollectorRegistry(), CollectorRegistry()
    for registry, hits, queued in ((parent, 2, 7), (child, 3, 99)):
        counter = Counter("trova_test_hits", "hits", ["source"], registry=registry)
        counter.labels("local").inc(hits)
        Gauge("trova_test_queued", "queued", registry=registry).set(queued)
        Gauge("python_test_info", "not relayed", registry=registry).set(queued)
    Counter("trova_test_only_child", "only in the child", registry=child).inc(5)
    relayed = text_string_to_metric_families(generate_latest(child).decode())
    merged = {family.name: family for family in metrics.merge(parent.collect(), relayed)}
    samples = {(s.name, tuple(s.labels.items())): s.value for f in merged.values() for s in f.samples}
    assert samples[("trova_test_hits_total", (("source", "local"),))] == 5
    assert samples[("trova_test_queued", ())] == 7
    assert samples[("python_test_info", ())] == 7
    assert samples[("trova_test_only_child_total", ())] == 5
    assert [name for name in merged if name.endswith("_created")] == []


def test_a_registered_child_is_asked_at_each_scrape_until_removed() -> None:
    def child() -> bytes:
        return b"# TYPE trova_test_relayed counter\ntrova_test_relayed_total 4.0\n"

    metrics.add_child(child)
    try:
        assert b"trova_test_relayed_total 4.0" in metrics.exposition()
    finally:
        metrics.remove_child(child)
    assert b"trova_test_relayed_total" not in metrics.exposition()
