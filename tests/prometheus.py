"""/metrics as the tests read it: Prometheus text parsed by prometheus_client's own parser."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[Any]], float]


def samples(text: str) -> Samples:
    """Every sample of a Prometheus text exposition: {(sample name, labels): value}."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 when it is absent."""
    return found.get((name, frozenset(labels.items())), 0.0)
